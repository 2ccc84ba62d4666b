"""``anomaly run``: produce a file (optional), run the online pipeline until idle, alert once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.ingest import ingest
from skybridge.apps.anomaly.nab.corpus import read_series
from skybridge.apps.anomaly.pipeline import build_pipeline
from skybridge.apps.anomaly.points import Point, check_name, default_event_id
from skybridge.apps.anomaly.schedule import alert_pass
from skybridge.apps.kit.context import AppContext
from skybridge.core.errors import Conflict, ValidationError

Context = AppContext[AnomalyConfig]


def file_points(file: Path, series: str | None = None) -> list[Point]:
    """The points of a ``timestamp,value`` CSV as one series (default: the file's name).

    Raises:
        ValidationError: the series name is not usable, or the file is malformed.
    """
    name = check_name(series or file.stem, "series")
    timestamps, values = read_series(file)
    return [
        Point(name, t, v, default_event_id(name, t))
        for t, v in zip(timestamps, values, strict=True)
    ]


def run_once(
    ctx: Context, *, file: Path | None = None, series: str | None = None, idle_exit: float = 2.0
) -> dict[str, Any]:
    """Produce ``file`` (if given), consume until ``idle_exit`` seconds pass with nothing new,
    then run the alert step once.

    Raises:
        ValidationError: ``series`` without ``file`` (it names the file's points).
    """
    if series is not None and file is None:
        raise ValidationError(
            "a series name applies only with a file to produce", hint="give the file too"
        )
    produced = ingest(ctx, file_points(file, series)) if file is not None else 0
    pipeline = build_pipeline(ctx)
    try:
        stats = pipeline.run(idle_exit=idle_exit)
    except Conflict as exc:
        if not produced:
            raise
        raise Conflict(
            f"{produced} points were published, but {exc.message}",
            hint="the running service or worker processes them: see skybridge anomaly status",
        ) from None
    finally:
        getattr(pipeline, "close")()  # noqa: B009
    return {
        "produced": produced,
        "records": stats.records,
        "dead_letters": stats.dead_letters,
        "alerts": alert_pass(ctx).to_dict(),
    }

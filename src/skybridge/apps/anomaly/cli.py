"""``skybridge anomaly ...``: run the pipeline, detect in a file, evaluate on NAB, alerts.

Exit codes: 0 ok; 1 ``detect`` or ``run`` flagged something when ``--fail-on-flag`` is given;
2 bad input (an unknown detector, series or incident, a malformed file or NAB folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    SpinnerColumn,
    TaskProgressColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from skybridge.apps.anomaly import incidents, queries
from skybridge.apps.anomaly.detectors import DETECTORS, detector_class
from skybridge.apps.anomaly.evaluate import PROFILE_NAMES, detector_scores, nab_report
from skybridge.apps.anomaly.nab.corpus import read_series
from skybridge.apps.anomaly.runner import run_once
from skybridge.apps.kit.cli import (
    EXIT_FAILED,
    Json,
    app_context,
    cli_session,
    emit_json,
    more_after,
    page_title,
    progress_bar,
    result_table,
    styled,
)
from skybridge.core.errors import ValidationError

anomaly_app = typer.Typer(
    help="Streaming anomaly detection: pipeline, alerts, NAB evaluation.", no_args_is_help=True
)
alerts_app = typer.Typer(help="Incidents: list, acknowledge, resolve.", no_args_is_help=True)
anomaly_app.add_typer(alerts_app, name="alerts")

DetectorOpt = Annotated[
    str | None,
    typer.Option(
        "--detector", help=f"One of: {', '.join(DETECTORS)} (default: \\[anomaly] detector)."
    ),
]
FailOpt = Annotated[bool, typer.Option("--fail-on-flag", help="Exit 1 when a point is flagged.")]


def _print(ctx: typer.Context, renderable: Any) -> None:
    cli_session(ctx).out.print(renderable)


@anomaly_app.command("detectors")
def detectors(ctx: typer.Context, as_json: Json = False) -> None:
    """The detectors, with the default (``\\[anomaly] detector``, built in: combined) marked."""
    chosen = app_context(ctx, "anomaly").config.detector
    rows: list[dict[str, Any]] = [
        {"name": name, "default": name == chosen, "summary": detector_class(name).summary}
        for name in DETECTORS
    ]
    if as_json:
        emit_json(rows)
        return
    table = result_table("Detectors", "name", "what it does")
    for row in rows:
        table.add_row(row["name"] + (" (default)" if row["default"] else ""), row["summary"])
    _print(ctx, table)


@anomaly_app.command("detect")
def detect(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="timestamp,value CSV")],
    detector: DetectorOpt = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Flag at this score (default: \\[anomaly] thresholds of the file's name, else "
            "threshold).",
        ),
    ] = None,
    fail_on_flag: FailOpt = False,
    as_json: Json = False,
) -> None:
    """Score a series file offline and list its flagged points with the reason for each."""
    config = app_context(ctx, "anomaly").config
    detector = detector or config.detector
    detector_class(detector)
    if threshold is None:
        threshold = config.threshold_for(file.stem)
    timestamps, values = read_series(file)
    with progress_bar(SpinnerColumn(), TimeElapsedColumn(), transient=True, disable=as_json) as bar:
        bar.add_task(f"scoring {len(values)} points", total=None)
        scores, reasons = detector_scores(timestamps, values, detector, config.season)
    flagged: list[dict[str, Any]] = [
        {"time": t.isoformat(), "value": v, "score": round(s, 4), "reason": r}
        for t, v, s, r in zip(timestamps, values, scores, reasons, strict=True)
        if s >= threshold
    ]
    if as_json:
        emit_json({"detector": detector, "points": len(values), "flagged": flagged})
    else:
        table = result_table(
            f"{file.name}: {len(flagged)} of {len(values)} points flagged",
            "time",
            "value",
            "score",
            "reason",
        )
        for row in flagged:
            table.add_row(
                row["time"], f"{row['value']:g}", f"{row['score']:.3f}", row["reason"] or ""
            )
        _print(ctx, table)
    if flagged and fail_on_flag:
        raise typer.Exit(EXIT_FAILED)


@anomaly_app.command("eval")
def evaluate(
    ctx: typer.Context,
    nab: Annotated[Path, typer.Option("--nab", help="NAB folder: data/ and labels/.")],
    detector: DetectorOpt = None,
    as_json: Json = False,
) -> None:
    """Score a detector with NAB's rules on every series under DIR/data/."""
    detector = detector or app_context(ctx, "anomaly").config.detector
    if not nab.is_dir():
        raise ValidationError(f"{nab} is not a folder", hint="give the NAB folder with --nab")
    columns = (BarColumn(), TaskProgressColumn(), TimeRemainingColumn())
    with progress_bar(*columns, disable=as_json) as bar:
        task = bar.add_task("detecting", total=len(list((nab / "data").glob("*/*.csv"))))
        report = nab_report(nab, detector, progress=lambda s: bar.advance(task))
    if as_json:
        emit_json(report)
        return
    table = result_table(
        f"NAB scores of {detector}: {report['series']} series, {report['windows']} windows",
        "category",
        *PROFILE_NAMES,
    )
    for category, scores in report["categories"].items():
        table.add_row(category, *(_score(scores[p]) for p in PROFILE_NAMES))
    table.add_row(
        styled("[bold]overall[/]"), *(styled("[bold]{:.1f}[/]", report[p]) for p in PROFILE_NAMES)
    )
    _print(ctx, table)


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


@anomaly_app.command("run")
def run(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Option("--file", exists=True, dir_okay=False, help="Produce this CSV first."),
    ] = None,
    series: Annotated[
        str | None,
        typer.Option(help="With --file: the series name of its points (default the file's name)."),
    ] = None,
    idle_exit: Annotated[
        float, typer.Option(min=0.1, help="Stop after this many idle seconds.")
    ] = 2.0,
    fail_on_flag: FailOpt = False,
    as_json: Json = False,
) -> None:
    """Run the online pipeline until the topic is idle, then the alert step once.

    --series names the points of --file, so it needs --file.
    """
    if series is not None and file is None:
        raise ValidationError(
            "--series applies only with --file",
            hint="add --file CSV to publish its points under that series name, or drop --series",
        )
    app = app_context(ctx, "anomaly")
    with progress_bar(SpinnerColumn(), TimeElapsedColumn(), transient=True, disable=as_json) as bar:
        bar.add_task("streaming", total=None)
        summary = run_once(app, file=file, series=series, idle_exit=idle_exit)
    if as_json:
        emit_json(summary)
    else:
        _print(
            ctx,
            f"{summary['produced']} produced, {summary['records']} consumed; "
            f"{summary['alerts']['flags']} flags, {summary['alerts']['opened']} new "
            f"incidents, {summary['alerts']['notified']} notified",
        )
    if summary["alerts"]["flags"] and fail_on_flag:
        raise typer.Exit(EXIT_FAILED)


@anomaly_app.command("status")
def status(ctx: typer.Context, as_json: Json = False) -> None:
    """Every series in raw_events: points, flags, time span, open incidents."""
    with queries.opened(app_context(ctx, "anomaly")) as engine:
        rows = queries.series_summaries(engine)
    if as_json:
        emit_json(rows)
        return
    table = result_table("Series", "series", "points", "flags", "last", "open incidents")
    for r in rows:
        table.add_row(
            r["series"],
            str(r["points"]),
            str(r["flags"]),
            r["last"] or "—",
            str(r["open_incidents"]),
        )
    _print(ctx, table if rows else "No events yet: produce some (skybridge anomaly run --file F).")


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved")] = None,
    limit: Annotated[
        int,
        typer.Option(
            min=1, max=queries.MAX_INCIDENTS, help=f"At most this many (1-{queries.MAX_INCIDENTS})."
        ),
    ] = 200,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many newest first.")] = 0,
    as_json: Json = False,
) -> None:
    """Incidents, newest first: the first LIMIT after OFFSET, and how many there are in all.

    ``--json`` prints ``{"incidents": [...], "total", "offset", "limit"}``.
    """
    with queries.opened(app_context(ctx, "anomaly")) as engine:
        rows = queries.incident_list(engine, status, limit, offset)
        total = queries.incident_count(engine, status)
    if as_json:
        emit_json({"incidents": rows, "total": total, "offset": offset, "limit": limit})
        return
    if not rows:
        _print(ctx, f"No incidents (of {total})." if total else "No incidents.")
        return
    table = result_table(
        page_title("Incidents", len(rows), offset, total, "newest first"),
        "incident",
        "status",
        "flags",
        "max score",
        "reason",
    )
    for r in rows:
        table.add_row(
            r["incident_id"],
            r["status"],
            str(r["flags"]),
            f"{r['max_score']:.3f}",
            r["reason"],
        )
    _print(ctx, table)
    if more := more_after(len(rows), offset, total):
        _print(ctx, more)


@alerts_app.command("ack")
def alerts_ack(
    ctx: typer.Context,
    incident: Annotated[str, typer.Argument(help="Incident id (alerts list).")],
    by: Annotated[str | None, typer.Option(help="Who acknowledges.")] = None,
) -> None:
    """Acknowledge an incident."""
    with queries.opened(app_context(ctx, "anomaly")) as engine:
        incidents.set_status(engine, incident, "acknowledged", by)
    _print(ctx, f"acknowledged {incident}")


@alerts_app.command("resolve")
def alerts_resolve(
    ctx: typer.Context, incident: Annotated[str, typer.Argument(help="Incident id.")]
) -> None:
    """Resolve an incident; the series' next flag opens a new one."""
    with queries.opened(app_context(ctx, "anomaly")) as engine:
        incidents.set_status(engine, incident, "resolved")
    _print(ctx, f"resolved {incident}")

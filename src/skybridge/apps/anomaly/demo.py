"""``skybridge up --demo``: a NAB series streamed live through the pipeline.

:func:`seed` (idempotent) produces the first ``SEEDED`` points of the demo series (``[anomaly]
demo_series`` under ``nab_dir``, default ``../shared/data/nab``; a generated series with
spikes and a level shift when no NAB folder is there) and runs the pipeline and the alert
step over them once, so the page has data at once. :func:`stream` (a demo service) then
produces the rest at ``demo_rate`` points per second; the pipeline scores them as they come.
"""

from __future__ import annotations

import math
import random
import threading
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.ingest import ensure_topic, produce_points
from skybridge.apps.anomaly.nab.corpus import read_series
from skybridge.apps.anomaly.points import Point, check_name, default_event_id
from skybridge.apps.anomaly.queries import opened
from skybridge.apps.anomaly.runner import run_once
from skybridge.apps.anomaly.table import RAW_EVENTS
from skybridge.apps.kit.context import AppContext

Context = AppContext[AnomalyConfig]
SEEDED = 1000
PROGRESS_KEY = "anomaly/demo/produced"
CHUNK = 10


def demo_points(config: AnomalyConfig) -> list[Point]:
    """The demo series: a NAB series when its folder is there, else a generated one."""
    root = config.nab_dir or Path("../shared/data/nab")
    path = root / "data" / config.demo_series
    if path.is_file():
        name = check_name(path.stem, "series")  # the same checks as every event
        timestamps, values = read_series(path)
    else:
        name, timestamps, values = "demo-generated", *generated_series()
    return [
        Point(name, t, v, default_event_id(name, t))
        for t, v in zip(timestamps, values, strict=True)
    ]


def generated_series(count: int = 6000) -> tuple[list[datetime], list[float]]:
    """Five-minute points: a daily cycle with noise, two spikes and a level shift. The first
    spike falls in the seeded points, so the page opens with an incident, as with NAB's."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1)
    times = [start + timedelta(minutes=5 * i) for i in range(count)]
    values = []
    for i in range(count):
        value = 50 + 10 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 1.5)
        value += 60 if i in (700, 3100) else 0
        value += 25 if i >= 4500 else 0
        values.append(round(value, 2))
    return times, values


def seed(ctx: Context) -> None:
    """Produce and score the first points of the demo series (nothing if already there)."""
    points = demo_points(ctx.config)
    with opened(ctx) as engine, engine.connect() as conn:
        have = conn.execute(
            select(func.count()).where(RAW_EVENTS.c.series == points[0].series)
        ).scalar_one()
    if have:
        return
    with ctx.connect("streams") as streams:
        ensure_topic(streams, ctx.config.topic)
        produce_points(streams, ctx.config.topic, points[:SEEDED])
    with ctx.connect("kv") as store:
        store.put_json(PROGRESS_KEY, {"produced": SEEDED})
    run_once(ctx, idle_exit=0.5)


def stream(ctx: Context, stop: threading.Event) -> None:
    """Produce the rest of the demo series, ``demo_rate`` points per second, until ``stop``."""
    points = demo_points(ctx.config)
    pause = CHUNK / ctx.config.demo_rate
    with ctx.connect("streams") as streams, ctx.connect("kv") as store:
        ensure_topic(streams, ctx.config.topic)
        done = int((store.get_json(PROGRESS_KEY) or {}).get("produced", SEEDED))
        while done < len(points) and not stop.wait(pause):
            chunk = points[done : done + CHUNK]
            produce_points(streams, ctx.config.topic, chunk)
            done += len(chunk)
            store.put_json(PROGRESS_KEY, {"produced": done})

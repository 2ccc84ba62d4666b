"""The scheduled job, the original's ``DBMS_SCHEDULER`` job done right.

Every ``schedule_every`` seconds (default 120, the original's 2 minutes), on one process among
all that share the kv store: with ``detection = "scheduled"`` it first scores the rows the
pipeline stored unscored (per series, in event time, against the series' detector state kept in
``anomaly_job_state``: O(new rows), where the original recomputed the whole table per row);
then it runs the alert step (:mod:`.incidents`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select, update

from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.incidents import AlertPass, announce, group_flags
from skybridge.apps.anomaly.model import SeriesModel
from skybridge.apps.anomaly.points import Point
from skybridge.apps.anomaly.table import JOB_STATE, RAW_EVENTS, create_tables
from skybridge.apps.kit.background import ScheduledJob
from skybridge.apps.kit.context import AppContext
from skybridge.runtime.scheduler import JobRun

Context = AppContext[AnomalyConfig]
BATCH = 5000
#: Seconds between alert steps under ``skybridge up --demo``, so the demo alerts promptly.
DEMO_EVERY = 5.0


def score_pending(engine: Engine, config: AnomalyConfig) -> int:
    """Score the unscored, unprocessed rows; returns how many were scored."""
    done = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(
                    RAW_EVENTS.c.event_id,
                    RAW_EVENTS.c.series,
                    RAW_EVENTS.c.event_time,
                    RAW_EVENTS.c.metric_value,
                )
                .where(RAW_EVENTS.c.processed_flag == "N", RAW_EVENTS.c.score.is_(None))
                .order_by(RAW_EVENTS.c.series, RAW_EVENTS.c.event_time)
                .limit(BATCH)
            ).all()
            if not rows:
                return done
            models: dict[str, SeriesModel] = {}
            for row in rows:
                model = models.get(row.series) or _load(conn, row.series, config)
                models[row.series] = model
                point = Point(row.series, row.event_time, row.metric_value, row.event_id)
                score, flagged, reason = model.score(point, config.threshold_for(row.series))
                conn.execute(
                    update(RAW_EVENTS)
                    .where(RAW_EVENTS.c.event_id == row.event_id)
                    .values(score=score, anomaly_flag="Y" if flagged else "N", reason=reason)
                )
            for series, model in models.items():
                _save(conn, series, model)
            done += len(rows)


def _load(conn: Any, series: str, config: AnomalyConfig) -> SeriesModel:
    text = conn.execute(
        select(JOB_STATE.c.state).where(JOB_STATE.c.series == series)
    ).scalar_one_or_none()
    return SeriesModel.from_doc(json.loads(text) if text else None, config.detector, config.season)


def _save(conn: Any, series: str, model: SeriesModel) -> None:
    text = json.dumps(model.to_doc(), separators=(",", ":"))
    changed = conn.execute(
        update(JOB_STATE).where(JOB_STATE.c.series == series).values(state=text)
    ).rowcount
    if not changed:
        conn.execute(JOB_STATE.insert().values(series=series, state=text))


def alert_pass(ctx: Context) -> AlertPass:
    """One run of the job: score pending rows (scheduled detection), group flags, announce."""
    engine = ctx.sql_engine()
    try:
        create_tables(engine)
        if ctx.config.detection == "scheduled":
            score_pending(engine, ctx.config)
        rows, flags, opened = group_flags(engine, ctx.config.cooldown)
        with ctx.connect("notify") as notifier:
            notified = announce(engine, notifier)
    finally:
        engine.dispose()
    return AlertPass(rows, flags, opened, notified)


def alert_job(ctx: Context) -> ScheduledJob:
    """The job ``skybridge up`` and ``skybridge worker`` run every ``schedule_every`` seconds."""

    def run(tick: JobRun) -> dict[str, int]:
        return alert_pass(ctx).to_dict()

    every = min(ctx.config.schedule_every, DEMO_EVERY) if ctx.demo else ctx.config.schedule_every
    return ScheduledJob(run, every=every)

"""Catch-up edge cases: a sync whose ``every`` changed, a ``prefix`` sync behind by many
windows, a tick that runs out of time, and the change sink given an insert-only output."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Engine, text
from tests.apps.datasync.conftest import TABLES
from tests.apps.datasync.test_batch import CSV, local_sides

from skybridge.apps.datasync import background
from skybridge.apps.datasync.batches import BatchRunner
from skybridge.apps.datasync.batchrecord import BatchRecord, BatchRecords, window_of_id
from skybridge.apps.datasync.catchup import catch_up, sync_progress
from skybridge.apps.datasync.config import BatchSpec, DataSyncConfig
from skybridge.apps.datasync.stream import ChangeSink
from skybridge.apps.datasync.target import SqlTarget
from skybridge.apps.datasync.watermarks import Watermarks
from skybridge.apps.datasync.workflow import BatchEnv
from skybridge.backends import kv
from skybridge.backends.sql import create_sql_engine
from skybridge.core.errors import ValidationError
from skybridge.runtime.outputs import Effect, Insert

DAY0 = 1767225600.0  # 2026-01-01 00:00 UTC
HOUR, DAY = 3600.0, 86400.0
QUERY = (
    "SELECT id AS order_id, v AS version, st AS status FROM src "
    "WHERE changed >= :window_start AND changed < :window_end"
)


def _target(engine: Engine) -> SqlTarget:
    target = SqlTarget(engine, TABLES)
    target.create()
    return target


def _runner(tmp: Path, target: SqlTarget, source: Engine | None, **batch: object) -> BatchRunner:
    aws, oci = local_sides(tmp)
    cfg = DataSyncConfig(tables=TABLES, batches={"s": BatchSpec(table="orders", **batch)})
    records = BatchRecords(kv.connect(f"sqlite:///{tmp / 'kv.db'}", setting=None))
    return BatchRunner(BatchEnv(cfg, target, aws, oci, source), records)


def _source(tmp: Path) -> Engine:
    engine = create_sql_engine(f"sqlite:///{tmp / 'src.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE src (id INT, v INT, st TEXT, changed TIMESTAMP)"))
        conn.execute(
            text(
                "INSERT INTO src VALUES (1, 1, '00:30', '2026-01-01 00:30:00'), "
                "(2, 1, '05:30', '2026-01-01 05:30:00'), (3, 1, '12:30', '2026-01-01 12:30:00')"
            )
        )
    return engine


def test_a_sync_whose_every_grows_runs_the_new_window_whole(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    target, source = _target(sqlite_engine), _source(tmp_path)
    hourly = _runner(tmp_path, target, source, query=QUERY, every=HOUR)
    marks = Watermarks(hourly.records.kv)
    marks.begin("s", DAY0)
    assert len(catch_up(hourly, marks, "s", DAY0 + 6 * HOUR + 10).ran) == 6  # through 06:00

    daily = _runner(tmp_path, target, source, query=QUERY, every=DAY)
    tick = catch_up(daily, marks, "s", DAY0 + DAY + 10)

    # The daily window starts with the hourly one of 00:00, which is done: it is not taken
    # for the day's batch, which runs under an id of its own and syncs the row of 12:30.
    assert tick.ran == ["s-20260101T000000Z-86400s"]
    assert tick.failed is None
    assert sorted(r["status"] for r in target.rows("orders")) == ["00:30", "05:30", "12:30"]
    assert marks.get("s") == DAY0 + DAY
    assert window_of_id(tick.ran[0]) == int(DAY0)
    hour = hourly.records.get("s-20260101T000000Z")
    assert hour is not None  # the hour's batch is kept
    assert hour.window_end == DAY0 + HOUR
    # A run by hand of the day's window finds the day's batch (done), not the hour's.
    assert daily.record("s", at=DAY0 + DAY + 10).id == "s-20260101T000000Z-86400s"


def test_a_failed_batch_of_another_length_is_not_resumed_with_its_bounds(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    target = _target(sqlite_engine)
    daily = _runner(tmp_path, target, _source(tmp_path), query=QUERY, every=DAY)
    hour = BatchRecord("s-20260101T000000Z", "s", "orders", DAY0, DAY0 + HOUR)
    hour.steps["extract"].state, hour.steps["extract"].error = "failed", "boom"
    daily.records.save(hour)

    record = daily.record("s", at=DAY0 + DAY + 10)

    assert (record.id, record.window_start, record.window_end) == (
        "s-20260101T000000Z-86400s",
        DAY0,
        DAY0 + DAY,
    )


def test_a_prefix_sync_behind_runs_only_its_newest_window(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    target = _target(sqlite_engine)
    run = _runner(tmp_path, target, None, prefix="exports/", every=HOUR)
    run.env.aws.put("exports/day.csv", CSV)
    marks = Watermarks(run.records.kv)
    marks.begin("s", DAY0)
    at = DAY0 + 30 * HOUR + 10  # 30 windows due

    assert sync_progress(run, marks, "s", at).behind == 30
    tick = catch_up(run, marks, "s", at)

    # Every file under the prefix is read whatever the window: one run of the newest window
    # moves the sync past all 30.
    assert tick.ran == ["s-20260102T050000Z"]
    assert (tick.behind, marks.get("s")) == (0, DAY0 + 30 * HOUR)
    assert len(target.rows("orders")) == 2
    assert catch_up(run, marks, "s", at).ran == []


def test_a_tick_past_its_time_starts_no_more_windows(tmp_path: Path, sqlite_engine: Engine) -> None:
    target = _target(sqlite_engine)
    run = _runner(tmp_path, target, _source(tmp_path), query=QUERY, every=HOUR)
    marks = Watermarks(run.records.kv)
    marks.begin("s", DAY0)

    tick = catch_up(run, marks, "s", DAY0 + 6 * HOUR + 10, until=time.monotonic() - 1)

    assert (tick.ran, tick.behind, marks.get("s")) == ([], 6, DAY0)
    assert len(catch_up(run, marks, "s", DAY0 + 6 * HOUR + 10).ran) == 6  # the next tick


def test_the_batch_job_lease_outlasts_the_part_of_a_tick_that_starts_windows() -> None:
    assert background.TICK_LEASE_TTL > 300.0  # the scheduler's default


def test_the_change_sink_refuses_an_insert_only_output(sqlite_engine: Engine) -> None:
    sink = ChangeSink(_target(sqlite_engine))
    row = {"order_id": 1, "version": 1, "status": "new"}
    effect = Effect(cast(Any, None), 0, Insert("orders", row, sink="datasync"))

    with pytest.raises(ValidationError, match="insert-only Insert"):
        sink.write([effect])
    assert sink.target.rows("orders") == []

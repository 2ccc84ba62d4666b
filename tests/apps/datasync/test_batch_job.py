"""The scheduled batch job runs every window of a batch sync from its watermark on: a window
whose batch failed (an outage) is resumed by a later tick, a window whose tick no process ran
is run by the next tick that runs, a tick that leaves a batch failed is recorded failed with
the error, and the status (``datasync status``; its view is what ``GET /status`` and the page
show) says how far each sync is complete and what failed.

The job runs under the scheduler as ``skybridge up`` runs it, at times given to
``run_pending(now=...)``; nothing sleeps.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from tests.apps.datasync.conftest import TABLES
from tests.apps.datasync.test_batch import AT, local_sides, runner
from tests.apps.datasync.test_surfaces import cli

from skybridge.apps.datasync import catchup, workflow
from skybridge.apps.datasync.background import batch_job
from skybridge.apps.datasync.batches import BatchRunner
from skybridge.apps.datasync.batchrecord import BatchRecord, batch_id
from skybridge.apps.datasync.catchup import catch_up
from skybridge.apps.datasync.service import DataSync
from skybridge.apps.datasync.target import SqlTarget
from skybridge.apps.datasync.views import status_view
from skybridge.apps.datasync.watermarks import Watermarks
from skybridge.apps.kit.context import AppContext
from skybridge.backends.sql import create_sql_engine
from skybridge.core.errors import TransientError
from skybridge.runtime.scheduler import Scheduler

HOUR = 3600.0
SETTINGS = """
[datasync]
source = "sqlite:///source.db"

[datasync.batches.hourly]
table = "orders"
query = '''SELECT id AS order_id, v AS version, st AS status FROM src
           WHERE changed >= :window_start AND changed < :window_end'''
every = 3600
"""


def _source_rows() -> None:
    """One row changed in each of the hours 00:00, 01:00 and 02:00 of 2026-01-01."""
    engine = create_sql_engine("sqlite:///source.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE src (id INT, v INT, st TEXT, changed TIMESTAMP)"))
        conn.execute(
            text(
                "INSERT INTO src VALUES (1, 1, 'h0', '2026-01-01 00:30:00'), "
                "(2, 1, 'h1', '2026-01-01 01:30:00'), (3, 1, 'h2', '2026-01-01 02:30:00')"
            )
        )
    engine.dispose()


def _outage(env: workflow.BatchEnv, record: BatchRecord) -> dict[str, Any]:
    raise TransientError("OCI Object Storage unreachable")


def _progress(ctx: AppContext[Any], now: float) -> tuple[float | None, int | None, Any]:
    """The one batch sync's watermark, windows behind and the batch it waits on, at ``now``."""
    with DataSync.open(ctx) as sync:
        [hourly] = sync.batch_syncs(now=now)
    return hourly.synced_through, hourly.behind, hourly.waiting


def test_a_failed_window_and_a_missed_tick_are_run_by_a_later_tick(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    _source_rows()
    ctx = AppContext.of("datasync")
    job = batch_job(ctx)
    with ctx.connect("kv") as store:
        scheduler = Scheduler(store, prefix="datasync/scheduler/")  # as the kit's run_jobs
        scheduler.every("datasync.batches", job.every, job.run, missed=job.missed)
        scheduler.run_pending(now=AT - HOUR / 2)  # the job starts; its first tick is 01:00
        copy = workflow.RUNNERS["copy"]
        monkeypatch.setitem(workflow.RUNNERS, "copy", _outage)
        scheduler.run_pending(now=AT + 1)  # the 01:00 tick: [00:00, 01:00) fails at its copy
        state = scheduler.state("datasync.batches")
        first = batch_id("hourly", AT - HOUR)
        assert state.last_error is not None
        assert f"batch sync hourly: {first} failed (TransientError: OCI" in state.last_error
        mark, behind, waiting = _progress(ctx, AT + 1)
        assert (mark, behind, waiting.id, waiting.state) == (AT - HOUR, 1, first, "failed")
        with DataSync.open(ctx) as sync:
            assert status_view(sync)["batch_job"]["status"] == "failed"
        code, out = cli("status")
        assert code == 0, out
        assert "failed: BatchSyncFailed: batch sync hourly" in " ".join(out.split())
        assert first in out  # the batch it waits on
        assert "(failed)" in out

        monkeypatch.setitem(workflow.RUNNERS, "copy", copy)  # the outage is over, but no
        # process runs at 02:00 nor at 03:00: the next one is up five minutes after 03:00
        scheduler.run_pending(now=AT + 2 * HOUR + 300)
        state = scheduler.state("datasync.batches")
        assert state.last_error is None
        windows = [batch_id("hourly", AT + h * HOUR) for h in (-1, 0, 1)]
        assert state.last_result["hourly"]["ran"] == windows  # oldest first, the failed one too
        assert state.last_result["hourly"]["behind"] == 0
    with DataSync.open(ctx) as sync:
        rows = {r["order_id"]: r["status"] for r in sync.target.rows("orders")}
        assert [b.id for b in sync.batches()] == windows[::-1]  # none before the first tick's
    assert rows == {1: "h0", 2: "h1", 3: "h2"}
    assert _progress(ctx, AT + 2 * HOUR + 300) == (AT + 2 * HOUR, 0, None)
    listed = json.loads(cli("status", "--json")[1])
    assert listed["batch_job"]["status"] == "succeeded"


def _runner(tmp: Path, engine: Engine) -> BatchRunner:
    """An hourly sync whose query reads its window (a ``prefix`` sync runs only its newest)."""
    target = SqlTarget(engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp)
    query = "SELECT 1 AS order_id, 1 AS version, 'x' AS status WHERE :window_start < :window_end"
    run = runner(tmp, target, aws, oci, query=query)
    run.env = replace(run.env, source=create_sql_engine(f"sqlite:///{tmp / 'source.db'}"))
    return run


def test_a_backlog_beyond_the_cap_runs_oldest_first_over_several_ticks(
    tmp_path: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(catchup, "MAX_WINDOWS", 2)
    run = _runner(tmp_path, sqlite_engine)
    marks = Watermarks(run.records.kv)
    marks.begin("nightly", AT - 5 * HOUR)  # five windows behind at AT
    ticks = [catch_up(run, marks, "nightly", AT) for _ in range(3)]
    starts = [AT - h * HOUR for h in (5, 4, 3, 2, 1)]
    assert [t.ran for t in ticks] == [
        [batch_id("nightly", s) for s in starts[:2]],
        [batch_id("nightly", s) for s in starts[2:4]],
        [batch_id("nightly", starts[4])],
    ]
    assert [t.behind for t in ticks] == [3, 1, 0]
    assert [t.error for t in ticks] == [None, None, None]
    assert marks.get("nightly") == AT


def test_a_first_tick_starts_at_the_last_window_and_a_busy_one_waits(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    run = _runner(tmp_path, sqlite_engine)
    marks = Watermarks(run.records.kv)
    tick = catch_up(run, marks, "nightly", AT)
    assert (tick.ran, tick.behind, marks.get("nightly")) == (
        [batch_id("nightly", AT - HOUR)],
        0,
        AT,
    )
    held = batch_id("nightly", AT)
    run.leases.acquire(held, "elsewhere:4242", 60)  # a run of another host holds [01:00, 02:00)
    tick = catch_up(run, marks, "nightly", AT + 2 * HOUR)
    assert (tick.ran, tick.busy, tick.error, tick.behind) == ([], held, None, 2)
    assert marks.get("nightly") == AT  # the watermark waits for it, and so does the next window
    assert run.records.get(batch_id("nightly", AT + HOUR)) is None
    run.leases.release(run.leases.holder(held))
    tick = catch_up(run, marks, "nightly", AT + 2 * HOUR)
    assert tick.ran == [held, batch_id("nightly", AT + HOUR)]
    assert marks.get("nightly") == AT + 2 * HOUR

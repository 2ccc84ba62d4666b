"""Each run of a batch holds the batch's lease as an owner of its own, renewed while a step
runs: a second run of a running batch in the same process is refused naming the first (as
one in another process is), a step longer than the lease keeps it, and a run that lost its
lease stops before its next write.

Steps are held by events where a test needs a run to be inside one; time is a
:class:`ManualClock` where a lease must run out, and renewals come every 10 ms where the test
needs one (waited for, never timed).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from tests.apps.datasync.conftest import TABLES
from tests.apps.datasync.test_batch import AT, CSV, config, local_sides
from tests.apps.datasync.test_surfaces import SETTINGS, cli

from skybridge.apps.datasync import workflow
from skybridge.apps.datasync.batches import LEASE_MARGIN, LEASE_TTL, BatchBusy, BatchRunner
from skybridge.apps.datasync.batchrecord import BatchRecord, BatchRecords, batch_id
from skybridge.apps.datasync.target import SqlTarget
from skybridge.apps.datasync.workflow import BatchEnv
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.backends import kv
from skybridge.core.clock import SYSTEM_CLOCK, Clock, ManualClock
from skybridge.core.errors import Conflict
from skybridge.runtime.holders import this_process
from skybridge.runtime.leases import Lease, LeaseManager
from skybridge.testing.service import service_harness

START = 1_800_000_000.0
BATCH = batch_id("nightly", AT - 3600)


def _runner(
    tmp: Path, engine: Engine, *, clock: Clock = SYSTEM_CLOCK, renew_every: float = 60.0
) -> BatchRunner:
    """A runner as one request or tick makes it: its own objects, the shared kv file."""
    target = SqlTarget(engine, TABLES)
    target.create()
    aws, oci = local_sides(tmp)
    aws.put("exports/day.csv", CSV)
    records = BatchRecords(kv.connect(f"sqlite:///{tmp / 'kv.db'}", setting=None))
    env = BatchEnv(config(), target, aws, oci)
    return BatchRunner(env, records, clock=clock, renew_every=renew_every)


def test_a_second_run_of_a_running_batch_in_this_process_is_refused(
    tmp_path: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduled tick and the page's run button in one ``skybridge up``."""
    tick, page = _runner(tmp_path, sqlite_engine), _runner(tmp_path, sqlite_engine)
    inside, go_on = threading.Event(), threading.Event()
    extract = workflow.RUNNERS["extract"]

    def held_extract(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
        if threading.current_thread() is first:  # the tick's run stays in its extract
            inside.set()
            assert go_on.wait(60)
        return extract(env, record)

    monkeypatch.setitem(workflow.RUNNERS, "extract", held_extract)
    ran: list[BatchRecord] = []
    first = threading.Thread(target=lambda: ran.append(tick.run("nightly", at=AT)))
    first.start()
    try:
        assert inside.wait(60)
        with pytest.raises(BatchBusy, match=r"another run in this process \(process \d+ on host"):
            page.run("nightly", at=AT)
    finally:
        go_on.set()
        first.join(60)
    assert [r.state for r in ran] == ["done"]  # the first run was never disturbed
    assert tick.leases.holder(BATCH) is None  # and gave its lease back


def test_a_run_in_this_process_is_refused_by_the_route_and_the_cli(
    skybridge_workdir: Path,
) -> None:
    """409 and exit 1, naming the run that holds the batch, as for a run of another process."""
    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    with AppContext.of("datasync").connect("kv") as store:
        BatchRecords(store).save(BatchRecord(BATCH, "nightly", "orders", AT - 3600, AT))
        leases = LeaseManager(store, prefix="datasync/leases/")
        held = leases.acquire(BATCH, f"run-1@{this_process()}", 600)
        assert held is not None
        try:
            with service_harness([find_app(discover_apps(), "datasync")]) as service:
                answer = service.client.post(
                    "/api/datasync/batches/run",
                    headers=service.auth,
                    json={"name": "nightly", "batch_id": BATCH},
                )
            assert answer.status_code == 409
            assert "is being run by another run in this process" in answer.json()["message"]
            code, out = cli("batch", "run", "nightly", "--id", BATCH)
            assert code == 1
            assert "is being run by another run in this process" in " ".join(out.split())
        finally:
            leases.release(held)


def test_a_step_longer_than_the_lease_keeps_it(
    tmp_path: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(START)
    run = _runner(tmp_path, sqlite_engine, clock=clock, renew_every=0.01)
    renewed_late = threading.Event()
    renew = run.leases.renew

    def watched(lease: Lease, ttl: float, *, now: float | None = None) -> Lease:
        renewed = renew(lease, ttl, now=now)
        if renewed.expires_at > START + LEASE_TTL:
            renewed_late.set()
        return renewed

    monkeypatch.setattr(run.leases, "renew", watched)
    extract = workflow.RUNNERS["extract"]
    others: list[Lease | None] = []

    def long_extract(env: BatchEnv, record: BatchRecord) -> dict[str, Any]:
        clock.advance(LEASE_TTL - LEASE_MARGIN - 1)  # most of the lease goes by in one step
        assert renewed_late.wait(60)  # ... while the run's thread renews it
        clock.advance(LEASE_MARGIN + 2)  # past the lease as it was taken
        others.append(run.leases.acquire(record.id, "elsewhere:4242", 60))
        return extract(env, record)

    monkeypatch.setitem(workflow.RUNNERS, "extract", long_extract)
    record = run.run("nightly", at=AT)
    assert others == [None]  # nobody could take the batch over mid-step
    assert record.state == "done"


def test_a_run_that_lost_its_lease_stops_before_its_next_write(
    tmp_path: Path, sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock(START)
    run = _runner(tmp_path, sqlite_engine, clock=clock, renew_every=3600)  # none in time
    oci = run.env.oci
    read = oci.get

    def paused_read(key: str) -> bytes:  # the load reads a part, and the process pauses
        clock.advance(LEASE_TTL + 1)
        assert run.leases.acquire(BATCH, "elsewhere:4242", 60) is not None  # taken over
        return read(key)

    monkeypatch.setattr(oci, "get", paused_read)
    loads: list[str] = []
    monkeypatch.setattr(run.env.target, "load_staging", lambda *a: loads.append(a[1]) or 0)
    with pytest.raises(Conflict, match=f"the run of batch {BATCH} stopped: its lease was not"):
        run.run("nightly", at=AT)
    assert loads == []  # the staging load never began
    stored = run.records.get(BATCH)
    assert stored is not None
    assert [stored.steps[s].state for s in ("copy", "load")] == ["done", "pending"]

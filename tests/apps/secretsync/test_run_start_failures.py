"""A reconcile start that fails once it took the lease (the kv store failing as the run is
recorded or its lease written, a thread that cannot start) gives the lease back and leaves no
run saying ``running``, so the next start is accepted at once; pruning old runs is best effort."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, Literal

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.secretsync import runs as runs_module
from skybridge.apps.secretsync.reconcile import Plan, ReconcileReport
from skybridge.apps.secretsync.run_records import KEEP_RUNS, RUN_PREFIX, ReconcileRun
from skybridge.apps.secretsync.runs import LEASE_NAME, ReconcileRuns, start_background
from skybridge.apps.secretsync.service import open_service
from skybridge.backends.kv.base import Value
from skybridge.backends.kv.sqlite import SQLiteStore
from skybridge.core.clock import ManualClock
from skybridge.core.errors import TransientError
from skybridge.runtime.leases import Lease
from skybridge.runtime.renewing import RenewingLease

from .test_routes import ctx, settings

__all__ = ["ctx", "settings"]  # fixtures of test_routes, used here

Fails = Literal["before", "after"] | None
BUSY = "sqlite kv database is busy: database is locked"


class FlakyKv(SQLiteStore):
    """An in-memory SQLite kv whose next run record save, lease write or prune fails once:
    ``before`` it writes, or ``after`` (written, but the store answered an error)."""

    def __init__(self) -> None:
        super().__init__()
        self.save_fails: Fails = None
        self.lease_fails: Fails = None
        self.prune_fails = False

    def put(self, key: str, value: Value, *, ttl: float | None = None) -> int:
        fails, self.save_fails = _once(key.startswith(RUN_PREFIX), self.save_fails)
        _fail(fails, "before")
        version = super().put(key, value, ttl=ttl)
        _fail(fails, "after")
        return version

    def compare_and_set(
        self, key: str, value: Value, expected_version: int, *, ttl: float | None = None
    ) -> int:
        taking = key.endswith(LEASE_NAME) and b'"owner":null' not in bytes(value)
        fails, self.lease_fails = _once(taking, self.lease_fails)
        _fail(fails, "before")
        version = super().compare_and_set(key, value, expected_version, ttl=ttl)
        _fail(fails, "after")
        return version

    def keys(self, prefix: str = "", *, limit: int | None = None) -> Iterator[str]:
        if self.prune_fails and prefix == RUN_PREFIX:
            self.prune_fails = False
            raise TransientError(BUSY)
        return super().keys(prefix, limit=limit)


def _once(applies: bool, fails: Fails) -> tuple[Fails, Fails]:
    """(how this call fails, how the next one will)."""
    return (fails, None) if applies else (None, fails)


def _fail(fails: Fails, now: Fails) -> None:
    if fails == now == "before":
        raise TransientError(BUSY)
    if fails == now == "after":
        raise TransientError("the kv store timed out answering")


def _begin(runs: ReconcileRuns, trigger: str = "api") -> tuple[ReconcileRun, Lease]:
    return runs.begin(dry_run=False, full=False, mappings=None, trigger=trigger)


def _report(progress: Any) -> ReconcileReport:
    return ReconcileReport(Plan([]), dry_run=False)


def _running(runs: ReconcileRuns) -> list[str]:
    return [run.id for run in runs.recent() if run.status == "running"]


@pytest.mark.parametrize("fails", ["before", "after"])
def test_a_start_whose_run_could_not_be_recorded_leaves_the_next_start_free(
    fails: Fails,
) -> None:
    kv = FlakyKv()
    runs = ReconcileRuns(kv)
    kv.save_fails = fails
    with pytest.raises(TransientError):
        _begin(runs)  # the API answers 503
    assert runs.leases.holder(LEASE_NAME) is None
    assert _running(runs) == []
    if fails == "after":  # the record was written: it says why the run never ran
        [failed] = runs.recent()
        assert (failed.status, failed.error_type) == ("failed", "TransientError")
    scheduled, lease = _begin(runs, "schedule")  # at once, not RunBusy for 60 s
    assert runs.leases.holder(LEASE_NAME).owner == scheduled.id  # type: ignore[union-attr]
    ended, _ = runs.execute(scheduled, lease, _report)
    assert ended.status == "succeeded"


@pytest.mark.parametrize("fails", ["before", "after"])
def test_a_start_whose_lease_write_failed_leaves_the_next_start_free(fails: Fails) -> None:
    kv = FlakyKv()
    runs = ReconcileRuns(kv)
    kv.lease_fails = fails
    with pytest.raises(TransientError):
        _begin(runs)
    assert runs.leases.holder(LEASE_NAME) is None  # a lease that landed was given back
    following, _ = _begin(runs, "page")
    assert runs.leases.holder(LEASE_NAME).owner == following.id  # type: ignore[union-attr]


def test_a_start_whose_pruning_failed_runs_and_the_next_start_prunes() -> None:
    kv = FlakyKv()
    clock = ManualClock(1_800_000_000.0)
    runs = ReconcileRuns(kv, clock=clock)
    for _ in range(KEEP_RUNS):
        clock.advance(1)
        runs.execute(*_begin(runs), _report)
    clock.advance(1)
    kv.prune_fails = True
    run, lease = _begin(runs)  # started though the history could not be pruned
    ended, _ = runs.execute(run, lease, _report)
    assert ended.status == "succeeded"
    assert len(list(kv.keys(RUN_PREFIX))) == KEEP_RUNS + 1
    clock.advance(1)
    runs.execute(*_begin(runs), _report)
    assert len(list(kv.keys(RUN_PREFIX))) == KEEP_RUNS


class _NoThread(threading.Thread):
    def start(self) -> None:
        raise RuntimeError("can't start new thread")


def test_a_background_run_whose_thread_cannot_start_leaves_the_next_start_free(
    ctx: AppContext[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs_module, "threading", SimpleNamespace(Thread=_NoThread))
    with open_service(ctx) as svc:
        with pytest.raises(RuntimeError, match="can't start new thread"):
            start_background(svc, trigger="page")  # the service stays ours
        runs = ReconcileRuns(svc.state)
        [failed] = runs.recent()
        assert (failed.status, failed.error_type) == ("failed", "RuntimeError")
        assert runs.leases.holder(LEASE_NAME) is None
        started = runs.start(svc.engine, trigger="schedule")  # at once, not RunBusy
        ended, _ = started.execute()
    assert ended.status == "succeeded"


def test_a_run_whose_lease_renewal_cannot_start_is_recorded_failed_and_frees_the_lease(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = ReconcileRuns(FlakyKv())
    run, lease = _begin(runs, "cli")

    def no_thread(self: RenewingLease) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(RenewingLease, "start", no_thread)
    with pytest.raises(RuntimeError):
        runs.execute(run, lease, _report)
    assert runs.get(run.id).status == "failed"
    assert runs.leases.holder(LEASE_NAME) is None
    monkeypatch.undo()
    _begin(runs)

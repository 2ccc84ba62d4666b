"""A reconcile run and its lease: the lease as last renewed is the one given back; a run stops
before its next step once its lease may have run out, and a run recorded abandoned stays so;
history removes runs that never ended and reports whose run could not record its end.

Time is a :class:`ManualClock` where the test needs a lease to run out, and renewals come every
10 ms where the test needs a few of them (waited for, never timed).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.secretsync.reconcile import Plan, PlannedAction, ReconcileReport
from skybridge.apps.secretsync.run_records import KEEP_RUNS, REPORT_PREFIX, ReconcileRun
from skybridge.apps.secretsync.runs import (
    LEASE_MARGIN_S,
    LEASE_NAME,
    LEASE_TTL_S,
    ReconcileRuns,
)
from skybridge.backends import kv
from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import ManualClock
from skybridge.core.errors import Conflict, TransientError
from skybridge.runtime.leases import Lease

START = 1_800_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyValueStore]:
    with kv.connect(f"sqlite:///{tmp_path}/kv.db", setting=None) as opened:
        yield opened


def _report(mappings: int = 1) -> ReconcileReport:
    actions = [PlannedAction(f"m{n}", "noop", "in sync") for n in range(mappings)]
    return ReconcileReport(Plan(actions), dry_run=False)


def _begin(runs: ReconcileRuns, trigger: str = "cli") -> tuple[ReconcileRun, Lease]:
    return runs.begin(dry_run=False, full=False, mappings=None, trigger=trigger)


def _report_keys(store: KeyValueStore, run_id: str) -> list[str]:
    return list(store.keys(f"{REPORT_PREFIX}{run_id}/"))


def test_a_run_longer_than_a_renewal_gives_its_renewed_lease_back(
    store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = ReconcileRuns(store, renew_every=0.01)
    renewals: list[Lease] = []
    renewed_twice = threading.Event()
    renew = runs.leases.renew

    def counted(lease: Lease, ttl: float, **kwargs: Any) -> Lease:
        renewals.append(renew(lease, ttl, **kwargs))
        if len(renewals) >= 2:
            renewed_twice.set()
        return renewals[-1]

    monkeypatch.setattr(runs.leases, "renew", counted)
    run, lease = _begin(runs)

    def long(progress: Any) -> ReconcileReport:
        progress("plan", 0, 1)
        assert renewed_twice.wait(10), "the lease was never renewed"
        return _report()

    ended, _ = runs.execute(run, lease, long)
    assert ended.status == "succeeded"
    assert renewals[-1].version > lease.version  # the lease given back is not the one begun
    assert runs.leases.holder(LEASE_NAME) is None
    following, _ = _begin(runs, "api")  # not RunBusy naming the finished run
    assert following.id != run.id


def test_a_lease_left_by_a_run_that_ended_is_taken_over(store: KeyValueStore) -> None:
    """A run records its end before it gives the lease back; if giving it back failed, the
    next run does not wait for it to run out."""
    runs = ReconcileRuns(store)
    run, lease = _begin(runs)
    runs.leases.release = lambda lease: False  # type: ignore[method-assign]
    runs.execute(run, lease, lambda progress: _report())
    assert runs.leases.holder(LEASE_NAME) is not None
    following, _ = ReconcileRuns(store).begin(
        dry_run=False, full=False, mappings=None, trigger="api"
    )
    assert ReconcileRuns(store).leases.holder(LEASE_NAME).owner == following.id  # type: ignore[union-attr]


def test_a_run_whose_lease_ran_out_stops_before_its_next_mapping(store: KeyValueStore) -> None:
    clock = ManualClock(START)
    first, second = ReconcileRuns(store, clock=clock), ReconcileRuns(store, clock=clock)
    run, lease = _begin(first)
    applied_after_takeover: list[int] = []
    others: list[ReconcileRun] = []

    def reconcile(progress: Any) -> ReconcileReport:
        progress("apply", 0, 5)
        clock.advance(LEASE_TTL_S + 1)  # the process stalls past its lease
        others.append(_begin(second, "schedule")[0])
        for done in range(1, 6):
            progress("apply", done, 5)
            applied_after_takeover.append(done)
        return _report(5)

    with pytest.raises(Conflict, match="lease was not renewed in time"):
        first.execute(run, lease, reconcile)
    assert applied_after_takeover == []
    failed = first.records.get(run.id)
    assert (failed.status, failed.error_type) == ("failed", "Conflict")
    assert failed.progress == {"phase": "apply", "done": 0, "total": 5}
    holder = first.leases.holder(LEASE_NAME)
    assert holder is not None
    assert holder.owner == others[0].id  # the stopped run left it be


def test_a_run_stops_once_its_lease_is_within_the_margin_of_running_out(
    store: KeyValueStore,
) -> None:
    clock = ManualClock(START)
    runs = ReconcileRuns(store, clock=clock)
    run, lease = _begin(runs)
    steps: list[int] = []

    def reconcile(progress: Any) -> ReconcileReport:
        progress("apply", 0, 2)
        clock.advance(LEASE_TTL_S - LEASE_MARGIN_S - 1)  # renewals late, but time left
        progress("apply", 1, 2)
        steps.append(1)
        clock.advance(2)  # now less than the margin is left: nobody may take it yet
        assert runs.leases.holder(LEASE_NAME) is not None
        progress("apply", 2, 2)
        steps.append(2)
        return _report(2)

    with pytest.raises(Conflict):
        runs.execute(run, lease, reconcile)
    assert steps == [1]
    assert runs.records.get(run.id).status == "failed"


def test_a_run_recorded_abandoned_while_it_ran_stays_abandoned(store: KeyValueStore) -> None:
    clock = ManualClock(START)
    runs, reader = ReconcileRuns(store, clock=clock), ReconcileRuns(store, clock=clock)
    run, lease = _begin(runs)
    judged: list[ReconcileRun] = []

    def reconcile(progress: Any) -> ReconcileReport:
        progress("apply", 0, 1)
        progress("apply", 1, 1)
        clock.advance(LEASE_TTL_S + 1)  # paused after its last mapping
        judged.append(reader.get(run.id))
        return _report()

    with pytest.raises(Conflict, match="recorded abandoned while it ran"):
        runs.execute(run, lease, reconcile)
    assert judged[0].status == "abandoned"
    kept = runs.records.get(run.id)
    assert kept == judged[0]  # neither "succeeded" nor "failed" written over it
    assert _report_keys(store, run.id) == []  # the report it stored is not left behind


def test_progress_written_after_the_run_was_judged_abandoned_is_refused(
    store: KeyValueStore,
) -> None:
    clock = ManualClock(START)
    runs = ReconcileRuns(store, clock=clock)
    run, lease = _begin(runs)

    def reconcile(progress: Any) -> ReconcileReport:
        progress("plan", 0, 1)
        clock.advance(LEASE_TTL_S + 1)
        runs.get(run.id)  # judged abandoned
        clock.advance(-(LEASE_TTL_S + 1))  # a clock that disagrees: the lease looks live
        progress("apply", 0, 1)
        return _report()

    with pytest.raises(Conflict, match="recorded abandoned"):
        runs.execute(run, lease, reconcile)
    assert runs.records.get(run.id).status == "abandoned"


def test_a_run_that_never_ended_is_judged_and_pruned_once_older_than_the_kept_ones(
    store: KeyValueStore,
) -> None:
    clock = ManualClock(START)
    runs = ReconcileRuns(store, clock=clock)
    dead, _ = _begin(runs)  # its process died: nobody executes it, nobody reads it
    clock.advance(LEASE_TTL_S + 1)
    for _ in range(KEEP_RUNS + 1):
        clock.advance(1)
        run, lease = _begin(runs)
        runs.execute(run, lease, lambda progress: _report())
    assert runs.records.load(dead.id) is None
    assert len(list(store.keys("secretsync/runs/"))) == KEEP_RUNS


def test_a_report_stored_by_a_run_whose_end_failed_to_record_is_removed(
    store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = ReconcileRuns(store)
    run, lease = _begin(runs)
    save = runs.records.save

    def down_at_the_end(record: ReconcileRun, *, expected: int | None = None) -> int:
        if record.status == "succeeded":
            raise TransientError("the kv store answered 503")
        return save(record, expected=expected)

    monkeypatch.setattr(runs.records, "save", down_at_the_end)
    with pytest.raises(TransientError):
        runs.execute(run, lease, lambda progress: _report(50))
    failed = runs.records.get(run.id)
    assert (failed.status, failed.report_parts) == ("failed", 0)
    assert _report_keys(store, run.id) == []


def test_a_report_whose_record_was_written_though_the_save_failed_is_kept(
    store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store wrote the final record and failed to answer: the report is the record's."""
    runs = ReconcileRuns(store)
    run, lease = _begin(runs)
    save = runs.records.save

    def written_then_down(record: ReconcileRun, *, expected: int | None = None) -> int:
        version = save(record, expected=expected)
        if record.status == "succeeded":
            raise TransientError("the kv store timed out answering")
        return version

    monkeypatch.setattr(runs.records, "save", written_then_down)
    with pytest.raises(TransientError):
        runs.execute(run, lease, lambda progress: _report(50))
    monkeypatch.undo()
    done = runs.records.get(run.id)
    assert done.status == "succeeded"
    assert runs.view(done)["report"] is not None
    assert _report_keys(store, run.id) != []


def test_pruning_removes_report_parts_a_record_does_not_count(store: KeyValueStore) -> None:
    runs = ReconcileRuns(store)
    run, lease = _begin(runs)
    runs.execute(run, lease, lambda progress: _report())
    record = runs.records.get(run.id)
    runs.records.save_report(record, {"left": "behind"})  # as if its end was never recorded
    runs.records.save(ReconcileRun(**{**record.__dict__, "report_parts": 0}))
    assert _report_keys(store, run.id)
    assert runs.records.prune(keep=0) == 1
    assert list(store.keys("secretsync/")) == [f"secretsync/leases/{LEASE_NAME}"]

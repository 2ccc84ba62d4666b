"""Reconcile runs: one at a time per deployment, recorded, and readable from any process.

A run holds the lease ``secretsync/leases/reconcile`` (owner: the run id) in the state kv store
while it works, so the service, ``skybridge worker`` and the CLI, however many processes share
the store, never reconcile at once: :meth:`ReconcileRuns.begin` raises :class:`RunBusy` naming
the running run. The lease lasts :data:`LEASE_TTL_S` seconds and a thread of the running
process renews it every :data:`RENEW_EVERY_S`; a run that loses it stops at its next mapping
and fails.

A run whose process died (killed, or stopped with the service) is not left ``running``: when
its record is read and its lease is gone (ran out) or names a process of this host that no
longer runs, the run is recorded as ``abandoned``, and its lease is taken over at once by the
next run (a process on another host or container keeps it until it runs out).

:func:`start_background` runs a reconcile in a thread of this process (the HTTP routes and the
dashboard); :meth:`ReconcileRuns.execute` runs one where it is called (the CLI, the scheduled
job) and raises what the reconcile raised, after recording it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from skybridge.apps.secretsync.reconcile import ReconcileReport
from skybridge.apps.secretsync.reconcile_run import OnProgress
from skybridge.apps.secretsync.run_records import (
    ReconcileRun,
    RunRecords,
    RunStatus,
    new_run_id,
)
from skybridge.apps.secretsync.service import SecretSyncService
from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock, when
from skybridge.core.errors import Conflict
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.runtime.holders import describe, holder_gone, this_process
from skybridge.runtime.leases import Lease, LeaseManager

log = get_logger(__name__)
LEASE_PREFIX = "secretsync/leases/"
LEASE_NAME = "reconcile"
#: How long a run's lease lasts without renewal: a run whose process died on another host
#: blocks the next one (and shows ``running``) for at most this long.
LEASE_TTL_S = 60.0
RENEW_EVERY_S = 15.0
#: Least time between two progress writes to the run's record.
PROGRESS_EVERY_S = 0.5
#: Longest error text kept with a failed run.
ERROR_MAX = 1000


class RunBusy(Conflict):
    """Another reconcile run holds the deployment's reconcile lease."""

    def __init__(self, run_id: str, run: ReconcileRun | None) -> None:
        where = ""
        if run is not None:
            where = f" in {describe(run.holder)}, started {when(run.started_at, seconds=True)}"
        super().__init__(
            f"reconcile run {run_id} is running{where}",
            hint=f"wait for it: GET /api/secretsync/reconcile/{run_id} shows its progress",
        )
        self.run_id = run_id


@dataclass
class _Tracker:
    """The running run's record, written as progress comes in (at most every
    :data:`PROGRESS_EVERY_S` seconds, and at each change of phase)."""

    records: RunRecords
    run: ReconcileRun
    lost: threading.Event
    written: float = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if self.lost.is_set():
            raise Conflict(
                f"reconcile run {self.run.id} lost its lease (the kv store was unreachable, "
                "or the process paused longer than the lease) and stopped",
                hint="start a new run",
            )
        before = self.run.progress.get("phase")
        self.run = replace(self.run, progress={"phase": phase, "done": done, "total": total})
        now = time.monotonic()
        if phase != before or done == total or now - self.written >= PROGRESS_EVERY_S:
            self.records.save(self.run)
            self.written = now


class ReconcileRuns:
    """Begin, run and read reconcile runs recorded in the state kv store ``kv``."""

    def __init__(self, kv: KeyValueStore, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.records = RunRecords(kv, clock=clock)
        self.leases = LeaseManager(kv, prefix=LEASE_PREFIX, clock=clock)
        self.clock = clock

    # -- starting and running ---------------------------------------------------------------
    def begin(
        self, *, dry_run: bool, full: bool, mappings: list[str] | None, trigger: str
    ) -> tuple[ReconcileRun, Lease]:
        """Record a new run, holding the reconcile lease.

        Raises:
            RunBusy: another run holds the lease.
        """
        now = self.clock.now()
        run = ReconcileRun(
            id=new_run_id(now),
            status="running",
            dry_run=dry_run,
            full=full,
            mappings=mappings,
            trigger=trigger,
            started_at=now,
            holder=this_process(),
            progress={"phase": "starting", "done": 0, "total": 0},
        )
        lease = self._take(run.id)
        self.records.save(run)
        self.records.prune()
        log.info("secretsync.reconcile_started", run=run.id, trigger=trigger, dry_run=dry_run)
        return run, lease

    def _take(self, run_id: str) -> Lease:
        lease = self.leases.acquire(LEASE_NAME, run_id, LEASE_TTL_S)
        if lease is not None:
            return lease
        holder = self.leases.holder(LEASE_NAME)
        running = None if holder is None else self.records.load(holder.owner)
        if holder is not None and running is not None and holder_gone(running[0].holder):
            self._abandon(*running, why=f"{describe(running[0].holder)} stopped")
            self.leases.release(holder)
            lease = self.leases.acquire(LEASE_NAME, run_id, LEASE_TTL_S)
            if lease is not None:
                return lease
            holder = self.leases.holder(LEASE_NAME)
            running = None if holder is None else self.records.load(holder.owner)
        if holder is None:
            raise Conflict("another reconcile run started just now; try again")
        raise RunBusy(holder.owner, running[0] if running else None)

    def execute(
        self, run: ReconcileRun, lease: Lease, reconcile: Callable[[OnProgress], ReconcileReport]
    ) -> tuple[ReconcileRun, ReconcileReport]:
        """Run ``reconcile(progress)`` as ``run`` (``progress`` records how far it got); record
        how it ended; give the lease back.

        Raises:
            BaseException: whatever ``reconcile`` raised, once the run is recorded ``failed``.
        """
        lost, stop = threading.Event(), threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(lease, lost, stop), name=f"secretsync-lease-{run.id}"
        )
        renewer.daemon = True
        renewer.start()
        tracker = _Tracker(self.records, run, lost)
        try:
            try:
                report = reconcile(tracker)
                ended = self._end(tracker.run, "succeeded", report=report)
            except BaseException as exc:
                self._failed(tracker.run, exc)
                raise
        finally:
            stop.set()
            renewer.join()
            with suppress(Exception):  # else it runs out by itself
                self.leases.release(lease)
        return ended, report

    def _failed(self, run: ReconcileRun, exc: BaseException) -> None:
        """Record ``run`` as failed with ``exc``; a store that fails now too leaves the run to
        be judged abandoned once its lease runs out."""
        try:
            self._end(replace(run, report_parts=0), "failed", error=exc)
        except Exception as again:
            log.warning(
                "secretsync.reconcile_not_recorded", run=run.id, error_type=type(again).__name__
            )

    def _renew(self, lease: Lease, lost: threading.Event, stop: threading.Event) -> None:
        while not stop.wait(RENEW_EVERY_S):
            try:
                lease = self.leases.renew(lease, LEASE_TTL_S)
            except Exception as exc:  # the kv store failing is the same as losing the lease
                log.warning("secretsync.reconcile_lease_lost", run=lease.owner, error=str(exc))
                lost.set()
                return

    def _end(
        self,
        run: ReconcileRun,
        status: RunStatus,
        *,
        report: ReconcileReport | None = None,
        error: BaseException | None = None,
    ) -> ReconcileRun:
        """Record the end of ``run`` (before its lease is given back, so a reader that sees
        the lease free finds the run finished)."""
        final = replace(run, status=status, finished_at=self.clock.now())
        if report is not None:
            final = self.records.save_report(final, report.to_dict())
            final = replace(final, summary=summary(report))
            final = replace(final, progress={**final.progress, "phase": "done"})
        if error is not None:
            text = scrub(str(error) or "interrupted")[:ERROR_MAX]
            final = replace(final, error=text, error_type=type(error).__name__)
        self.records.save(final)
        log.info(
            "secretsync.reconcile_finished",
            run=run.id,
            status=status,
            error_type=final.error_type,
            **(final.summary or {}),
        )
        return final

    # -- reading ----------------------------------------------------------------------------
    def get(self, run_id: str) -> ReconcileRun:
        """The run, judged abandoned if its process is gone.

        Raises:
            NotFound: no kept run has this id.
        """
        run = self.records.get(run_id)
        return self._judged(run)

    def recent(self, limit: int = 20) -> list[ReconcileRun]:
        """The kept runs, newest first, each judged as :meth:`get` does."""
        return [self._judged(run) for run in self.records.recent(limit)]

    def view(self, run: ReconcileRun) -> dict[str, Any]:
        """``run`` as the API shows it, with its report once finished."""
        return run.view(self.records.report(run) if run.finished else None)

    def _judged(self, run: ReconcileRun) -> ReconcileRun:
        if run.finished:
            return run
        holder = self.leases.holder(LEASE_NAME)
        if holder is None or holder.owner != run.id:
            why = "its lease ran out: the process running it stopped"
        elif holder_gone(run.holder):
            why = f"{describe(run.holder)} stopped"
            self.leases.release(holder)
        else:
            return run
        found = self.records.load(run.id)
        if found is None:
            return run
        return self._abandon(*found, why=why)

    def _abandon(self, run: ReconcileRun, version: int, *, why: str) -> ReconcileRun:
        """Record ``run`` (read at kv ``version``) as abandoned, unless it changed meanwhile
        (it finished: then the run as it is now)."""
        if run.finished:
            return run
        gone = replace(
            run,
            status="abandoned",
            finished_at=self.clock.now(),
            error=f"the run did not finish: {why}",
            error_type="Abandoned",
        )
        try:
            self.records.save(gone, expected=version)
        except Conflict:
            return self.records.get(run.id)
        log.warning("secretsync.reconcile_abandoned", run=run.id, reason=why)
        return gone


def summary(report: ReconcileReport) -> dict[str, int]:
    """The counts of a reconcile report: mappings, changes, writes, errors."""
    return {
        "mappings": len(report.plan.actions),
        "changes": len(report.plan.changes),
        "writes": report.writes,
        "errors": len(report.errors),
    }


@dataclass(frozen=True)
class BackgroundRun:
    """A run started by :func:`start_background`, and the thread running it."""

    run: ReconcileRun
    thread: threading.Thread


def start_background(
    service: SecretSyncService,
    *,
    dry_run: bool = False,
    full: bool = False,
    mappings: list[str] | None = None,
    trigger: str = "api",
) -> BackgroundRun:
    """Begin a run and reconcile in a thread of this process, which closes ``service`` when
    done (so the caller must not). On :class:`RunBusy` (or any failure to begin) ``service``
    stays the caller's.

    Raises:
        RunBusy: another run is going.
    """
    runs = ReconcileRuns(service.state)
    run, lease = runs.begin(dry_run=dry_run, full=full, mappings=mappings, trigger=trigger)

    def work() -> None:
        try:
            runs.execute(
                run,
                lease,
                lambda progress: service.engine.reconcile(
                    dry_run=dry_run, mappings=mappings, full=full, progress=progress
                ),
            )
        except Exception as exc:  # recorded with the run; the thread has no one to tell
            log.warning("secretsync.reconcile_failed", run=run.id, error_type=type(exc).__name__)
        finally:
            service.close()

    thread = threading.Thread(target=work, name=f"secretsync-reconcile-{run.id}", daemon=True)
    thread.start()
    return BackgroundRun(run, thread)

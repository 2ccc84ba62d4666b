"""Reconcile runs: one at a time per deployment, recorded, and readable from any process.

A run holds the lease ``secretsync/leases/reconcile`` (owner: the run id) in the state kv store
while it works, so the service, ``skybridge worker`` and the CLI, however many processes share
the store, never reconcile at once: :meth:`ReconcileRuns.begin` raises :class:`RunBusy` naming
the running run. The lease lasts :data:`LEASE_TTL_S` seconds and a thread of the running
process renews it every :data:`RENEW_EVERY_S` (a
:class:`~skybridge.runtime.renewing.RenewingLease`); the run gives back the lease as last
renewed. A run stops before its next mapping, and fails, once its lease was
taken or less than :data:`LEASE_MARGIN_S` of it is left (renewals failed or came late), so
it never writes while another run may hold the lease.

The running run writes its record over the version it last wrote: a run judged ``abandoned``
meanwhile (its lease ran out while it paused) stays ``abandoned``, and the run stops instead
of recording ``succeeded`` or ``failed`` over that verdict (the report it stored is removed).

A run whose process died (killed, or stopped with the service) is not left ``running``: when
its record is read and its lease is gone (ran out) or names a process of this host that no
longer runs, the run is recorded as ``abandoned``, and its lease is taken over at once by the
next run (a process on another host or container keeps it until it runs out). So is a lease
its run could not give back after recording its end. Runs that never ended are judged so too
before the history drops them.

Every reconcile run begins with :meth:`ReconcileRuns.start`, which records the run and takes
the lease, and goes on with :meth:`StartedRun.execute`, which reconciles with the options the run
was recorded with. :func:`start_background` executes it in a thread of this process (the HTTP
routes and the dashboard); the CLI and the scheduled job execute it where they are, and get
what the reconcile raised, after it is recorded. A start that fails once it took the lease (the
kv store failing as the run is recorded, a thread that cannot start) gives the lease back and
leaves the run recorded ``failed`` (or not at all), so the next start is not refused; pruning
old runs is best effort.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Any

from skybridge.apps.secretsync.engine import SecretSync
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
from skybridge.runtime.renewing import RenewingLease

log = get_logger(__name__)
LEASE_PREFIX = "secretsync/leases/"
LEASE_NAME = "reconcile"
#: How long a run's lease lasts without renewal: a run whose process died on another host
#: blocks the next one (and shows ``running``) for at most this long.
LEASE_TTL_S = 60.0
RENEW_EVERY_S = 15.0
#: A run stops before its next step once less than this is left of its lease (renewals
#: failing or late for 45 s): time for the mapping being applied to finish before the lease
#: can run out and another run begin.
LEASE_MARGIN_S = 15.0
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
    :data:`PROGRESS_EVERY_S` seconds, and at each change of phase) over the record's kv
    ``version`` only, so a run judged abandoned meanwhile stays so. Before each step it checks
    the run's lease (:meth:`~skybridge.runtime.renewing.RenewingLease.check`): a run that lost
    it, or may have, stops."""

    records: RunRecords
    run: ReconcileRun
    version: int
    lease: RenewingLease
    written: float = 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        self.lease.check()
        before = self.run.progress.get("phase")
        self.run = replace(self.run, progress={"phase": phase, "done": done, "total": total})
        now = time.monotonic()
        if phase != before or done == total or now - self.written >= PROGRESS_EVERY_S:
            self.version = self.save(self.run)
            self.written = now

    def save(self, run: ReconcileRun) -> int:
        """Write ``run`` over the version this run last wrote.

        Raises:
            Conflict: the record changed meanwhile (judged abandoned), or is gone.
        """
        try:
            return self.records.save(run, expected=self.version)
        except Conflict:
            raise Conflict(
                f"reconcile run {run.id} was recorded abandoned while it ran (its lease ran "
                "out): it stopped, and its record stays abandoned",
                hint="start a new run",
            ) from None


class ReconcileRuns:
    """Begin, run and read reconcile runs recorded in the state kv store ``kv``."""

    def __init__(
        self,
        kv: KeyValueStore,
        *,
        clock: Clock = SYSTEM_CLOCK,
        renew_every: float = RENEW_EVERY_S,
    ) -> None:
        self.records = RunRecords(kv, clock=clock)
        self.leases = LeaseManager(kv, prefix=LEASE_PREFIX, clock=clock)
        self.clock = clock
        self.renew_every = renew_every

    # -- starting and running ---------------------------------------------------------------
    def start(
        self,
        engine: SecretSync,
        *,
        dry_run: bool = False,
        full: bool = False,
        mappings: list[str] | None = None,
        trigger: str,
        progress: OnProgress | None = None,
    ) -> StartedRun:
        """Record a new run of ``engine``'s reconcile with these options, holding the reconcile
        lease (:meth:`begin`); its :meth:`~StartedRun.execute` reconciles with the same
        options. ``progress`` is told how far it got, before the run's record is.

        Raises:
            RunBusy: another run holds the lease.
        """
        run, lease = self.begin(dry_run=dry_run, full=full, mappings=mappings, trigger=trigger)

        def reconcile(record: OnProgress) -> ReconcileReport:
            told = record if progress is None else _both(progress, record)
            return engine.reconcile(dry_run=dry_run, mappings=mappings, full=full, progress=told)

        return StartedRun(self, run, lease, reconcile)

    def begin(
        self, *, dry_run: bool, full: bool, mappings: list[str] | None, trigger: str
    ) -> tuple[ReconcileRun, Lease]:
        """Record a new run, holding the reconcile lease.

        A begin that fails after taking the lease gives it back, and records the run
        ``failed`` if the failing save wrote it, so the next start is not refused (a kv store
        failing through all of this leaves the lease to run out, and the run to be judged
        abandoned). Old runs are pruned best effort: a prune that fails is logged and tried
        again by the next start.

        Raises:
            RunBusy: another run holds the lease.
            SkybridgeError: the kv store failed (nothing is held then).
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
        try:
            self.records.save(run)
        except BaseException as exc:
            self.cancel(run, lease, exc)
            raise
        self._prune()
        log.info("secretsync.reconcile_started", run=run.id, trigger=trigger, dry_run=dry_run)
        return run, lease

    def _take(self, run_id: str) -> Lease:
        try:
            lease = self.leases.acquire(LEASE_NAME, run_id, LEASE_TTL_S, take_over=self._ended)
        except Exception:
            # The lease's write may have landed though the store answered an error: a lease
            # of ours that no run record follows would refuse every start until it ran out.
            with suppress(Exception):
                held = self.leases.holder(LEASE_NAME)
                if held is not None and held.owner == run_id:
                    self._give_back(held)
            raise
        if lease is not None:
            return lease
        holder = self.leases.holder(LEASE_NAME)
        if holder is None:
            raise Conflict("another reconcile run started just now; try again")
        running = self.records.load(holder.owner)
        raise RunBusy(holder.owner, running[0] if running else None)

    def _prune(self) -> None:
        """Remove old runs beyond the kept ones; a kv store failing now leaves them to the
        next start (logged), as a start must not fail for want of tidying."""
        try:
            self.records.prune(judge=self._judged)
        except Exception as exc:
            log.warning("secretsync.reconcile_runs_not_pruned", error_type=type(exc).__name__)

    def cancel(self, run: ReconcileRun, lease: Lease, error: BaseException) -> None:
        """End ``run``, which never got to reconcile: record it ``failed`` with ``error``
        (when its record exists and still says ``running``), then give ``lease`` back.

        Best effort, never raising: a kv store failing now too leaves the run to be judged
        abandoned, and the lease to run out."""
        self._never_ran(run, error)
        self._give_back(lease)

    def _never_ran(self, run: ReconcileRun, error: BaseException) -> None:
        """Record ``run`` ``failed`` with ``error`` if its record still says ``running``;
        a kv store failing now is logged."""
        try:
            found = self.records.load(run.id)
            if found is not None and found[0].status == "running":
                failed = replace(found[0], status="failed", finished_at=self.clock.now())
                self.records.save(_with_error(failed, error), expected=found[1])
        except Exception as again:
            log.warning(
                "secretsync.reconcile_not_recorded", run=run.id, error_type=type(again).__name__
            )
            return
        log.warning("secretsync.reconcile_not_started", run=run.id, error_type=type(error).__name__)

    def _give_back(self, lease: Lease) -> None:
        given = False
        with suppress(Exception):
            given = self.leases.release(lease)
        if not given:
            log.warning("secretsync.reconcile_lease_not_released", run=lease.owner)

    def _ended(self, holder: Lease) -> bool:
        """Whether the run holding the lease is over (it is then recorded abandoned, unless it
        recorded its end, and its lease taken over)."""
        running = self.records.load(holder.owner)
        if running is None or not _over(running[0]):
            return False
        self._abandon(*running, why=f"{describe(running[0].holder)} stopped")
        return True

    def execute(
        self, run: ReconcileRun, lease: Lease, reconcile: Callable[[OnProgress], ReconcileReport]
    ) -> tuple[ReconcileRun, ReconcileReport]:
        """Run ``reconcile(progress)`` as ``run`` (``progress`` records how far it got, and
        stops the run once its lease is lost or about to run out); record how it ended; give
        the lease back.

        Raises:
            BaseException: whatever ``reconcile`` raised, once the run is recorded ``failed``
                (a run recorded ``abandoned`` meanwhile stays so).
        """
        held = RenewingLease(
            self.leases,
            lease,
            ttl=LEASE_TTL_S,
            renew_every=self.renew_every,
            margin=LEASE_MARGIN_S,
            clock=self.clock,
            work=f"reconcile run {lease.owner}",
            hint="start a new run",
            event="secretsync.reconcile_lease",
        )
        try:
            held.start()
            tracker = _Tracker(self.records, run, self._version(run), held)
        except BaseException as exc:
            self._never_ran(run, exc)
            held.stop()
            raise
        try:
            report = reconcile(tracker)
            ended = self._end(tracker, "succeeded", report=report)
        except BaseException as exc:
            self._failed(tracker, exc)
            raise
        finally:
            held.stop()
        return ended, report

    def _version(self, run: ReconcileRun) -> int:
        """The kv version of ``run``'s record, which must still say ``running``."""
        found = self.records.load(run.id)
        if found is None or found[0].status != "running":
            status = "gone" if found is None else found[0].status
            raise Conflict(f"reconcile run {run.id} is {status}, so it cannot run")
        return found[1]

    def _saved(self, run_id: str, status: RunStatus) -> bool:
        """Whether the record says ``status`` after a save whose outcome is unknown (the store
        may have written it and failed to answer): its report is then the record's."""
        try:
            found = self.records.load(run_id)
        except Exception:
            return True  # unknown still: the report stays, removed with the record
        return found is not None and found[0].status == status

    def _failed(self, tracker: _Tracker, exc: BaseException) -> None:
        """Record the run as failed with ``exc``; a store that fails now too leaves the run to
        be judged abandoned once its lease runs out, and a run recorded abandoned meanwhile
        stays so."""
        try:
            self._end(tracker, "failed", error=exc)
        except Exception as again:
            log.warning(
                "secretsync.reconcile_not_recorded",
                run=tracker.run.id,
                error_type=type(again).__name__,
            )

    def _end(
        self,
        tracker: _Tracker,
        status: RunStatus,
        *,
        report: ReconcileReport | None = None,
        error: BaseException | None = None,
    ) -> ReconcileRun:
        """Record the end of the tracked run (before its lease is given back, so a reader
        that sees the lease free finds the run finished), over the version it last wrote.

        Raises:
            Conflict: the run was recorded abandoned meanwhile (its record is kept, and the
                report this wrote is removed).
        """
        run = tracker.run
        final = replace(run, status=status, finished_at=self.clock.now(), report_parts=0)
        if report is not None:
            final = self.records.save_report(final, report.to_dict())
            final = replace(final, summary=summary(report))
            final = replace(final, progress={**final.progress, "phase": "done"})
        if error is not None:
            final = _with_error(final, error)
        try:
            tracker.version = tracker.save(final)
        except Exception:
            if report is not None and not self._saved(run.id, status):
                with suppress(Exception):  # else removed with the run's record, when pruned
                    self.records.drop_report(run.id)
            raise
        tracker.run = final
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


@dataclass(frozen=True)
class StartedRun:
    """A run :meth:`ReconcileRuns.start` recorded, holding the reconcile lease until
    :meth:`execute` ends."""

    runs: ReconcileRuns
    run: ReconcileRun
    lease: Lease
    reconcile: Callable[[OnProgress], ReconcileReport]

    def execute(self) -> tuple[ReconcileRun, ReconcileReport]:
        """Reconcile as this run where called (:meth:`ReconcileRuns.execute`): the run as it
        ended and its report.

        Raises:
            BaseException: whatever the reconcile raised, once the run is recorded.
        """
        return self.runs.execute(self.run, self.lease, self.reconcile)

    def cancel(self, error: BaseException) -> None:
        """End this run without executing it (:meth:`ReconcileRuns.cancel`): recorded
        ``failed`` with ``error``, its lease given back."""
        self.runs.cancel(self.run, self.lease, error)


def _both(first: OnProgress, second: OnProgress) -> OnProgress:
    def tell(phase: str, done: int, total: int) -> None:
        first(phase, done, total)
        second(phase, done, total)

    return tell


def _with_error(run: ReconcileRun, error: BaseException) -> ReconcileRun:
    """``run`` naming ``error`` (scrubbed of values, cut to :data:`ERROR_MAX`)."""
    text = scrub(str(error) or "interrupted")[:ERROR_MAX]
    return replace(run, error=text, error_type=type(error).__name__)


def _over(run: ReconcileRun) -> bool:
    """Whether the lease of ``run`` (its holder) is no longer needed: the run's process
    stopped, or the run ended (it records that just before it gives the lease back, which a
    failing kv store may keep it from doing)."""
    return run.status in ("succeeded", "failed") or holder_gone(run.holder)


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
    done (so the caller must not). On :class:`RunBusy` (or any failure to begin, or to start
    the thread) ``service`` stays the caller's, and no run is left holding the lease.

    Raises:
        RunBusy: another run is going.
    """
    started = ReconcileRuns(service.state).start(
        service.engine, dry_run=dry_run, full=full, mappings=mappings, trigger=trigger
    )
    try:
        return _in_thread(started, service)
    except BaseException as exc:
        started.cancel(exc)
        raise


def _in_thread(started: StartedRun, service: SecretSyncService) -> BackgroundRun:
    run = started.run

    def work() -> None:
        try:
            started.execute()
        except Exception as exc:  # recorded with the run; the thread has no one to tell
            log.warning("secretsync.reconcile_failed", run=run.id, error_type=type(exc).__name__)
        finally:
            service.close()

    thread = threading.Thread(target=work, name=f"secretsync-reconcile-{run.id}", daemon=True)
    thread.start()
    return BackgroundRun(run, thread)

"""Running batches: find or start a batch's record, hold its lease, run its steps in order.

Two runs asked to run the same batch (a scheduled tick and a manual run, in one process or in
two) never run its steps at once: each run holds the lease ``datasync/leases/<batch id>`` as
an owner of its own while it works (:mod:`.batchlease`: renewed while a step runs, checked
before every write), and the other is told the batch is busy and by whom. The scheduled job
runs each declared batch sync's windows from its watermark on (:mod:`.catchup`), so a batch
that failed is resumed by the next tick (or by ``skybridge datasync batch run NAME --id ID``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

from skybridge.apps.datasync.batchlease import holder_process, run_owner
from skybridge.apps.datasync.batchrecord import (
    STEPS,
    BatchRecord,
    BatchRecords,
    check_batch_id,
)
from skybridge.apps.datasync.workflow import BatchEnv, run_step
from skybridge.core.clock import SYSTEM_CLOCK, Clock, when
from skybridge.core.errors import Conflict, NotFound
from skybridge.core.observability import get_logger
from skybridge.runtime.holders import describe, holder_gone, this_process
from skybridge.runtime.leases import Lease, LeaseManager
from skybridge.runtime.renewing import RenewingLease

log = get_logger(__name__)

#: Seconds a run's lease lasts without renewal: a run killed on another host holds its batch
#: for at most this long.
LEASE_TTL = 300.0
#: Seconds between renewals of a run's lease while it runs.
RENEW_EVERY = 60.0
#: A run stops before its next write once less than this is left of its lease (renewals failing
#: or late for four minutes): time for the write under way to end before another run may begin.
LEASE_MARGIN = 60.0
#: ``(step, state)`` after each step: ``running``, ``done``, ``skipped`` or ``failed``.
OnStep = Callable[[str, str], None]


class BatchBusy(Conflict):
    """Another run (of this process or another) holds the batch's lease."""


def window(every: float, now: float) -> tuple[float, float]:
    """The last complete window of ``every`` seconds before ``now``: (start, end)."""
    end = math.floor(now / every) * every
    return end - every, end


class BatchRunner:
    """Runs the declared batch syncs of ``env`` with records and leases in ``records.kv``.

    ``clock`` decides when leases run out; ``renew_every`` is the seconds between renewals of a
    run's lease (:data:`RENEW_EVERY`).
    """

    def __init__(
        self,
        env: BatchEnv,
        records: BatchRecords,
        *,
        clock: Clock = SYSTEM_CLOCK,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self.env = env
        self.records = records
        self.clock = clock
        self.renew_every = renew_every
        self.leases = LeaseManager(records.kv, prefix="datasync/leases/", clock=clock)

    def record(
        self, name: str, *, at: float | None = None, batch: str | None = None
    ) -> BatchRecord:
        """The record of existing batch ``batch`` (to resume it), or of ``name``'s window
        before ``at`` (new if unseen).

        Raises:
            NotFound: no batch sync ``name``, or no batch ``batch`` (one is never made up
                from an id: its window would not be the id's).
            ValidationError: ``batch`` is not shaped like a batch id.
        """
        if name not in self.env.config.batches:
            known = ", ".join(sorted(self.env.config.batches)) or "none declared"
            raise NotFound(f"no batch sync called {name!r}", hint=f"batch syncs: {known}")
        if batch is not None:
            return self._existing(name, check_batch_id(batch))
        spec = self.env.config.batches[name]
        start, end = window(spec.every, time.time() if at is None else at)
        return self.records.for_window(name, spec.table, start, end)

    def _existing(self, name: str, batch: str) -> BatchRecord:
        found = self.records.get(batch)
        if found is None:
            raise NotFound(
                f"no batch {batch!r} of batch sync {name!r}",
                hint="give the id of a batch that was run (see the batch list), "
                "or none to run the last window",
            )
        return self._same_sync(found, name)

    @staticmethod
    def _same_sync(found: BatchRecord, name: str) -> BatchRecord:
        if found.name != name:
            raise Conflict(f"batch {found.id} belongs to batch sync {found.name!r}")
        return found

    def run(
        self,
        name: str,
        *,
        at: float | None = None,
        batch: str | None = None,
        steps: Sequence[str] = STEPS,
        on_step: OnStep | None = None,
    ) -> BatchRecord:
        """Run ``steps`` (default all) of a batch, skipping those already done.

        Raises:
            BatchBusy: another run (of this process or another) is running this batch now.
            Conflict: this run lost its lease (it stopped before its next write).
            SkybridgeError: a step failed (recorded in the batch, which resumes there).
        """
        record = self.record(name, at=at, batch=batch)
        report = on_step or (lambda _step, _state: None)
        lease = self._take(record.id)
        env = replace(self.env, before_write=lease.check)
        try:
            record = self.records.get(record.id) or record  # as the run before this one left it
            for step in steps:
                lease.check()
                report(step, "running")
                try:
                    ran = run_step(env, record, step)
                except Exception:
                    report(step, "failed")
                    if lease.problem() is None:  # a run that lost its lease records nothing
                        self.records.save(record)
                    raise
                lease.check()
                self.records.save(record)
                report(step, "done" if ran else "skipped")
        finally:
            lease.stop()
        return record

    def _take(self, batch: str) -> RenewingLease:
        """The batch's lease for a new run, renewing: free, expired, or held by a process of
        this host that is gone (killed before it could give the lease back).

        Raises:
            BatchBusy: a live run holds it (naming its process, and until when).
        """

        def gone(holder: Lease) -> bool:
            if not holder_gone(holder_process(holder.owner)):
                return False
            log.warning("datasync.lease_taken_over", batch=batch, owner=holder.owner)
            return True

        lease = self.leases.acquire(batch, run_owner(), LEASE_TTL, take_over=gone)
        if lease is None:
            raise self._busy(batch)
        held = RenewingLease(
            self.leases,
            lease,
            ttl=LEASE_TTL,
            renew_every=self.renew_every,
            margin=LEASE_MARGIN,
            clock=self.clock,
            work=f"the run of batch {batch}",
            hint="run the batch again: it resumes at its first step not done",
            event="datasync.batch_lease",
        )
        held.start()
        return held

    def _busy(self, batch: str) -> BatchBusy:
        holder = self.leases.holder(batch)
        if holder is None:  # released just now: the next run takes it
            return BatchBusy(f"batch {batch} was being run by another run; try again")
        process = holder_process(holder.owner)
        until = when(holder.expires_at)
        if process == this_process():
            return BatchBusy(
                f"batch {batch} is being run by another run in this process "
                f"({describe(process)}; its lease runs until {until})",
                hint="wait for that run to end: a tick of the batch job, or another request",
            )
        return BatchBusy(
            f"batch {batch} is being run by {describe(process)} (its lease runs until {until})",
            hint="wait for that run; one killed on another host holds the batch until its "
            "lease runs out, one killed on this host is taken over at once",
        )

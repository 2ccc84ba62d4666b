"""Running batches: find or start a batch's record, hold its lease, run its steps in order.

Two processes asked to run the same batch (a scheduled tick and a manual run) never run its
steps at once: the runner holds the lease ``datasync/<batch id>`` while it works, and the
other is told the batch is busy. The scheduled job runs the batch of the window that just
ended for each declared batch sync; a batch that failed is resumed by the next tick (or by
``skybridge datasync batch run NAME --id ID``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from skybridge.apps.datasync.batchrecord import (
    STEPS,
    BatchRecord,
    BatchRecords,
    batch_id,
    check_batch_id,
)
from skybridge.apps.datasync.workflow import BatchEnv, run_step
from skybridge.core.clock import when
from skybridge.core.errors import Conflict, NotFound
from skybridge.core.observability import get_logger
from skybridge.runtime.holders import describe, holder_gone, this_process
from skybridge.runtime.leases import Lease, LeaseManager

log = get_logger(__name__)

#: Seconds a runner holds a batch's lease per step (renewed before each step).
LEASE_TTL = 900.0
#: ``(step, state)`` after each step: ``running``, ``done``, ``skipped`` or ``failed``.
OnStep = Callable[[str, str], None]


def window(every: float, now: float) -> tuple[float, float]:
    """The last complete window of ``every`` seconds before ``now``: (start, end)."""
    end = math.floor(now / every) * every
    return end - every, end


class BatchRunner:
    """Runs the declared batch syncs of ``env`` with records and leases in ``records.kv``."""

    def __init__(self, env: BatchEnv, records: BatchRecords) -> None:
        self.env = env
        self.records = records
        self.leases = LeaseManager(records.kv, prefix="datasync/leases/")
        self.owner = this_process()

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
        found = self.records.get(batch_id(name, start))
        if found is not None:
            return self._same_sync(found, name)
        return BatchRecord(batch_id(name, start), name, spec.table, start, end)

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
            Conflict: another process is running this batch now.
            SkybridgeError: a step failed (recorded in the batch, which resumes there).
        """
        record = self.record(name, at=at, batch=batch)
        report = on_step or (lambda _step, _state: None)
        lease = self._take(record.id)
        try:
            for step in steps:
                lease = self.leases.renew(lease, LEASE_TTL)
                report(step, "running")
                try:
                    ran = run_step(self.env, record, step)
                except Exception:
                    report(step, "failed")
                    raise
                finally:
                    self.records.save(record)
                report(step, "done" if ran else "skipped")
        finally:
            self.leases.release(lease)
        return record

    def _take(self, batch: str) -> Lease:
        """The batch's lease: free, expired, or held by a process of this host that is gone
        (killed before it could give the lease back).

        Raises:
            Conflict: a live process holds it (naming it, and until when).
        """

        def gone(holder: Lease) -> bool:
            if not holder_gone(holder.owner):
                return False
            log.warning("datasync.lease_taken_over", batch=batch, owner=holder.owner)
            return True

        lease = self.leases.acquire(batch, self.owner, LEASE_TTL, take_over=gone)
        if lease is not None:
            return lease
        holder = self.leases.holder(batch)
        if holder is None:  # released just now: the next run takes it
            raise Conflict(f"batch {batch} was being run by another process; try again")
        raise Conflict(
            f"batch {batch} is being run by {describe(holder.owner)} (its lease runs until "
            f"{when(holder.expires_at)})",
            hint="wait for that run; one killed on another host holds the batch until its "
            "lease runs out, one killed on this host is taken over at once",
        )

    def run_due(self, *, at: float | None = None) -> list[BatchRecord]:
        """Run every declared batch sync's latest window (the scheduled job)."""
        return [self.run(name, at=at) for name in sorted(self.env.config.batches)]

"""What ``skybridge up`` and ``skybridge worker`` run for datasync.

* ``datasync.apply``: the consumer pipeline (creates missing target tables first);
* ``datasync.jobs``: the ``batches`` job, which on each tick (on one process among all) runs
  every declared batch sync's windows from its watermark on, oldest first, resuming failed
  ones (:mod:`.catchup`); a tick that leaves a batch failed raises, so the scheduler records
  it failed with the error.
"""

from __future__ import annotations

import time
from typing import Any

from skybridge.apps.datasync.catchup import BatchSyncFailed
from skybridge.apps.datasync.engines import Resources
from skybridge.apps.datasync.service import Context, DataSync, effective_config
from skybridge.apps.kit.background import ScheduledJob
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.scheduler import JobRun, MissedRunPolicy

#: Seconds between ticks when no batch sync is declared (the job then does nothing).
IDLE_EVERY = 3600.0
#: Seconds the batch job's tick lease lasts. A tick starts no window after half of it, so a
#: catch-up of many windows ends (but for a window that alone runs that long) before another
#: worker may take the tick as dead and run it again; the next tick runs the windows left.
TICK_LEASE_TTL = 3600.0


def apply_pipeline(ctx: Context) -> Pipeline:
    """The ``apply`` pipeline: changes on ``datasync.topic`` into the target database."""
    sync = DataSync(effective_config(ctx), Resources(ctx))
    try:
        sync.create_tables()
        return sync.pipeline(close=True)
    except BaseException:
        sync.close()
        raise


def batch_job(ctx: Context) -> ScheduledJob:
    """Each tick, run (or resume) every batch sync's windows after its watermark.

    The tick's result is, per batch sync, what it ran and how far it is complete
    (:meth:`~.catchup.SyncTick.to_dict`).

    Raises:
        BatchSyncFailed: a batch failed (the other syncs ran all the same).
    """
    batches = effective_config(ctx).batches
    every = min((b.every for b in batches.values()), default=IDLE_EVERY)

    def run(tick: JobRun) -> dict[str, Any]:
        if not batches:
            return {}
        with DataSync.open(ctx) as sync:
            sync.create_tables()
            until = time.monotonic() + TICK_LEASE_TTL / 2
            ticks = sync.run_due(at=tick.scheduled_for, until=until)
        if failed := [t for t in ticks if t.error is not None]:
            raise BatchSyncFailed(failed)
        return {t.name: t.to_dict() for t in ticks}

    # The watermark, not the tick, says which windows are due: a tick missed while no worker
    # ran is run once when one starts again (however late), and it runs every missed window.
    return ScheduledJob(run, every=every, missed=MissedRunPolicy.RUN_ONCE, lease_ttl=TICK_LEASE_TTL)

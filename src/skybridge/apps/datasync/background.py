"""What ``skybridge up`` and ``skybridge worker`` run for datasync.

* ``datasync.apply``: the consumer pipeline (creates missing target tables first);
* ``datasync.jobs``: the ``batches`` job, which runs each declared batch sync's last complete
  window once per tick among all processes (and resumes a failed one).
"""

from __future__ import annotations

from typing import Any

from skybridge.apps.datasync.engines import Resources
from skybridge.apps.datasync.service import Context, DataSync, effective_config
from skybridge.apps.kit.background import ScheduledJob
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)
#: Seconds between ticks when no batch sync is declared (the job then does nothing).
IDLE_EVERY = 3600.0


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
    """Each tick, run (or resume) every batch sync's latest complete window."""
    batches = effective_config(ctx).batches
    every = min((b.every for b in batches.values()), default=IDLE_EVERY)

    def run(tick: JobRun) -> dict[str, Any]:
        results: dict[str, Any] = {}
        if not batches:
            return results
        with DataSync.open(ctx) as sync:
            sync.create_tables()
            for name in sorted(batches):
                try:
                    record = sync.run_batch(name, at=tick.scheduled_for)
                    results[name] = {"batch": record.id, "state": record.state}
                except SkybridgeError as exc:
                    log.warning("datasync.batch_failed", batch=name, error=str(exc))
                    results[name] = {"state": "failed", "error": str(exc)}
        return results

    return ScheduledJob(run, every=every)

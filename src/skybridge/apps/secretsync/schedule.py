"""The scheduled reconcile: an interval job on the runtime :class:`Scheduler`.

Every tick (default hourly, ``SKYBRIDGE__SECRETSYNC__RECONCILE_EVERY`` seconds) is run by
exactly one of the workers sharing the kv store: the scheduler takes a lease per tick. Workers
that were down run the backlog once (``run_once``), not once per missed hour. The events
worker (:mod:`.pipeline`) runs it in a thread; any process can too::

    scheduler = reconcile_scheduler(service)
    scheduler.run_forever(stop_event)
"""

from __future__ import annotations

from typing import Any

from skybridge.apps.secretsync.engine import SecretSync
from skybridge.apps.secretsync.service import SecretSyncService
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import Job, JobRun, MissedRunPolicy, Scheduler

log = get_logger(__name__)
RECONCILE_JOB = "secretsync-reconcile"
#: A reconcile of thousands of secrets can take minutes; the tick lease must outlive it.
LEASE_TTL_S = 1800.0


def reconcile_job(engine: SecretSync) -> Any:
    """The job callable: one reconcile; its summary is kept as the job's last result."""

    def run(tick: JobRun) -> dict[str, int]:
        report = engine.reconcile()
        summary = {
            "mappings": len(report.plan.actions),
            "changes": len(report.plan.changes),
            "writes": report.writes,
            "errors": len(report.errors),
        }
        log.info("secretsync.scheduled_reconcile", worker=tick.worker, **summary)
        return summary

    return run


def add_reconcile_job(
    scheduler: Scheduler, engine: SecretSync, *, every: float = 3600.0, **options: Any
) -> Job:
    """Register the reconcile on ``scheduler`` every ``every`` seconds."""
    options.setdefault("missed", MissedRunPolicy.RUN_ONCE)
    options.setdefault("lease_ttl", LEASE_TTL_S)
    return scheduler.every(RECONCILE_JOB, every, reconcile_job(engine), **options)


def reconcile_scheduler(service: SecretSyncService, *, worker: str | None = None) -> Scheduler:
    """A scheduler on the service's kv store with the reconcile job registered."""
    scheduler = Scheduler(service.state, worker=worker, prefix="secretsync/scheduler/")
    add_reconcile_job(scheduler, service.engine, every=service.config.reconcile_every)
    return scheduler

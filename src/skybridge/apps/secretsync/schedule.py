"""The scheduled reconcile: the app's job ``reconcile`` (manifest), every ``reconcile_every``.

Every tick (default hourly) is run by exactly one of the processes sharing the kv store (the
kit's scheduler takes a lease per tick). Workers that were down run the backlog once
(``run_once``), not once per missed hour. Each tick is a recorded reconcile run (trigger
``schedule``, see :mod:`.runs`); a tick that finds another run going (one started over HTTP,
from the dashboard or the CLI) leaves the work to it and is skipped.
"""

from __future__ import annotations

from typing import Any

from skybridge.apps.kit.background import ScheduledJob
from skybridge.apps.secretsync.engine import SecretSync
from skybridge.apps.secretsync.runs import ReconcileRuns, RunBusy, summary
from skybridge.apps.secretsync.service import Context, build_service
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import JobRun, MissedRunPolicy

log = get_logger(__name__)
#: A reconcile of thousands of secrets can take minutes; the tick lease must outlive it.
LEASE_TTL_S = 1800.0


def reconcile_run(engine: SecretSync) -> Any:
    """The job callable: one recorded reconcile run; its summary is kept as the job's last
    result (``{"skipped": ..., "run": <id>}`` when another run was going)."""
    runs = ReconcileRuns(engine.state.kv)

    def run(tick: JobRun) -> dict[str, Any]:
        try:
            started = runs.start(engine, trigger="schedule")
        except RunBusy as busy:
            log.info("secretsync.scheduled_reconcile_skipped", worker=tick.worker, run=busy.run_id)
            return {"skipped": "another reconcile run was going", "run": busy.run_id}
        _, report = started.execute()
        counts = summary(report)
        log.info("secretsync.scheduled_reconcile", worker=tick.worker, run=started.run.id, **counts)
        return counts

    return run


def reconcile_job(ctx: Context) -> ScheduledJob:
    """The scheduled reconcile on the configured table (``ConfigError`` if there is none)."""
    service = build_service(ctx)
    return ScheduledJob(
        reconcile_run(service.engine),
        every=ctx.config.reconcile_every,
        missed=MissedRunPolicy.RUN_ONCE,
        lease_ttl=LEASE_TTL_S,
        close=service.close,
    )

"""Scheduled jobs: pull new exports and cost API days, then check budgets and alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from skybridge.apps.costs.api import Context, open_costs
from skybridge.apps.kit.background import ScheduledJob
from skybridge.runtime.scheduler import JobRun

#: Days each cost API pull re-reads: late cost settles for a few days on both clouds.
PULL_DAYS = 3


def ingest_job(ctx: Context) -> ScheduledJob:
    """Every ``ingest_every`` seconds: the report bucket, then each cost API's last days."""

    def run(tick: JobRun) -> dict[str, Any]:
        with open_costs(ctx) as costs:
            files = [r.to_dict() for r in costs.ingest_bucket()]
            today = datetime.now(UTC).date()
            for name in sorted(ctx.config.sources):
                files += [
                    r.to_dict()
                    for r in costs.ingest_api(name, today - timedelta(days=PULL_DAYS), today)
                ]
        return {"ingested": sum(1 for f in files if f["status"] == "ingested"), "files": len(files)}

    return ScheduledJob(run, every=ctx.config.ingest_every)


def budget_job(ctx: Context) -> ScheduledJob:
    """Hourly, as OCI evaluates its budgets: alert on newly crossed thresholds."""

    def run(tick: JobRun) -> dict[str, Any]:
        with open_costs(ctx) as costs:
            _, sent = costs.budgets(alert=True)
        return {"alerts_sent": len(sent)}

    return ScheduledJob(run, every=3600.0)

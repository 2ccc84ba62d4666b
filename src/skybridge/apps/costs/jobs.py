"""Scheduled jobs: pull new exports and cost API days, then check budgets and alert."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from skybridge.apps.costs.api import Context, open_costs
from skybridge.apps.costs.ingest import FileResult
from skybridge.apps.kit.background import ScheduledJob
from skybridge.core.errors import SkybridgeError, TerminalError, TransientError
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)

#: Days each cost API pull re-reads: late cost settles for a few days on both clouds.
PULL_DAYS = 3
Step = tuple[str, Callable[[], list[FileResult]]]


def ingest_job(ctx: Context) -> ScheduledJob:
    """Every ``ingest_every`` seconds: the report bucket, then each cost API's last days.

    Every step runs, whatever became of the ones before it. The result counts the files, lists
    the bucket objects that were rejected (each ``objects:<key>`` with its reason, again on
    every run until the object is removed) and counts the rows kept out; when a step failed,
    the run fails once all have run, naming each failed step.
    """

    def run(tick: JobRun) -> dict[str, Any]:
        files: list[FileResult] = []
        failed: list[tuple[str, Exception]] = []
        with open_costs(ctx) as costs:
            today = datetime.now(UTC).date()
            steps: list[Step] = [("the report bucket", lambda: list(costs.ingest_bucket()))]
            for name in sorted(ctx.config.sources):
                pull = partial(costs.ingest_api, name, today - timedelta(days=PULL_DAYS), today)
                steps.append((f"the cost API {name}", pull))
            for label, step in steps:
                try:
                    files += step()
                except Exception as exc:  # one failing step must not keep the others from running
                    log.warning("costs.ingest_step_failed", step=label, error=scrub(str(exc)))
                    failed.append((label, exc))
        if failed:
            raise _failed_steps(failed, files) from failed[0][1]
        return _summary(files)

    return ScheduledJob(run, every=ctx.config.ingest_every)


def _summary(files: list[FileResult]) -> dict[str, Any]:
    return {
        "ingested": sum(1 for f in files if f.status == "ingested"),
        "files": len(files),
        "skipped": sum(1 for f in files if f.status == "skipped"),
        "rejected": [
            {"source": f.source, "reason": f.reason} for f in files if f.status == "rejected"
        ],
        "rejected_rows": sum(f.rejected for f in files),
    }


def _failed_steps(failed: list[tuple[str, Exception]], files: list[FileResult]) -> SkybridgeError:
    """One error for the steps that failed: transient when every one of them was."""
    text = "; ".join(f"{label} failed: {exc}" for label, exc in failed)
    done = _summary(files)
    message = f"{text} (the other steps ran: {done['ingested']} of {done['files']} files new)"
    if all(isinstance(exc, TransientError) for _, exc in failed):
        return TransientError(scrub(message))
    return TerminalError(scrub(message))


def budget_job(ctx: Context) -> ScheduledJob:
    """Hourly, as OCI evaluates its budgets: alert on newly crossed thresholds."""

    def run(tick: JobRun) -> dict[str, Any]:
        with open_costs(ctx) as costs:
            _, sent = costs.budgets(alert=True)
        return {"alerts_sent": len(sent)}

    return ScheduledJob(run, every=3600.0)

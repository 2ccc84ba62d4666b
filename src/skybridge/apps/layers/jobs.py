"""The scheduled job that moves rollouts on: every ``rollout_every`` seconds each rolling
rollout is advanced (or rolled back when its alarm fires), and a rollout whose last change did
not reach the platform (a rollback whose layer restore failed) gets that change made again."""

from __future__ import annotations

from typing import Any

from skybridge.apps.kit.background import ScheduledJob
from skybridge.apps.layers import api
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)


def advance_all(ctx: api.Context) -> list[dict[str, Any]]:
    """Advance every rolling or unsettled rollout once; one failing does not stop the others.

    A rollout still ``starting`` is left to its start (or to a rollback by hand).
    """
    moved = []
    for rollout in api.list_rollouts(ctx):
        if rollout.status == "starting" or (rollout.status != "rolling" and rollout.settled):
            continue
        try:
            after = api.advance_rollout(ctx, rollout.function, rollout.alias)
        except SkybridgeError as exc:
            log.warning("layers.rollout_failed", function=rollout.function, reason=str(exc))
            continue
        moved.append(
            {
                "function": after.function,
                "alias": after.alias,
                "status": after.status,
                "weight": after.weight,
            }
        )
    return moved


def rollout_job(ctx: api.Context) -> ScheduledJob:
    def run(tick: JobRun) -> list[dict[str, Any]]:
        return advance_all(ctx)

    return ScheduledJob(run, every=ctx.config.rollout_every)

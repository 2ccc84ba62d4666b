"""The scheduled job that moves rollouts on: every ``rollout_every`` seconds each rolling
rollout is advanced (or rolled back when its alarm fires), and a rollout whose last change did
not reach the platform (a rollback whose layer restore failed) gets that change made again.

A rollout still ``starting`` after ``rollout_start_timeout`` seconds belongs to a start that
died part-way (the process was killed): its candidate may already get traffic that nobody
checks against the alarm, so the job rolls it back."""

from __future__ import annotations

import time
from typing import Any

from skybridge.apps.kit.background import ScheduledJob
from skybridge.apps.layers import api
from skybridge.apps.layers.rollout import Rollout
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)


def advance_all(ctx: api.Context, *, now: float | None = None) -> list[dict[str, Any]]:
    """Advance every rolling or unsettled rollout once; one failing does not stop the others.

    A rollout still ``starting`` is left to its start until it is older than
    ``rollout_start_timeout`` seconds (at ``now``, default the current time); then it is
    rolled back.
    """
    moved = []
    for rollout in api.list_rollouts(ctx):
        if rollout.status != "starting" and rollout.status != "rolling" and rollout.settled:
            continue
        try:
            after = _move(ctx, rollout, time.time() if now is None else now)
        except SkybridgeError as exc:
            log.warning("layers.rollout_failed", function=rollout.function, reason=str(exc))
            continue
        if after is not None:
            moved.append(
                {
                    "function": after.function,
                    "alias": after.alias,
                    "status": after.status,
                    "weight": after.weight,
                }
            )
    return moved


def _move(ctx: api.Context, rollout: Rollout, now: float) -> Rollout | None:
    """Advance ``rollout``, or roll it back when its start stalled; ``None``: still starting."""
    if rollout.status != "starting":
        return api.advance_rollout(ctx, rollout.function, rollout.alias)
    age = now - rollout.updated_at
    if age < ctx.config.rollout_start_timeout:
        return None
    log.error(
        "layers.rollout_start_stalled",
        function=rollout.function,
        alias=rollout.alias,
        seconds=round(age),
    )
    reason = f"its start stalled ({age:.0f} s without finishing; the process may have died)"
    return api.roll_back(ctx, rollout.function, rollout.alias, reason)


def rollout_job(ctx: api.Context) -> ScheduledJob:
    def run(tick: JobRun) -> list[dict[str, Any]]:
        return advance_all(ctx)

    return ScheduledJob(run, every=ctx.config.rollout_every)

"""The scheduled retraining: every ``recommend.retrain_every`` seconds, over the last
``recommend.window_days``; a new version is swapped in only when the window holds at least
``recommend.min_interactions`` events."""

from __future__ import annotations

from typing import Any

from skybridge.apps.kit.background import ScheduledJob
from skybridge.apps.recommend.service import Context, open_recommender
from skybridge.apps.recommend.training import retrain
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)


def scheduled_retrain(ctx: Context) -> ScheduledJob:
    """The retrain job of the worker (``skybridge worker run recommend``)."""

    def run(tick: JobRun) -> dict[str, Any]:
        with open_recommender(ctx) as engine:
            report = retrain(engine)
        log.info("recommend.retrain", trained=report.trained, version=report.version)
        return report.to_dict()

    return ScheduledJob(run, every=ctx.config.retrain_every)

"""The scheduled evaluation: ``rag.eval_dataset`` every ``rag.eval_every`` seconds.

Each run compares with the baseline and alerts (notify backend) on a regression; with no
``eval_dataset`` configured a tick records that there is nothing to evaluate.
"""

from __future__ import annotations

from typing import Any

from skybridge.apps.kit.background import ScheduledJob
from skybridge.apps.rag.datasets import load_query_set
from skybridge.apps.rag.evaluation import evaluate
from skybridge.apps.rag.service import Context, open_rag
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)


def scheduled_eval(ctx: Context) -> ScheduledJob:
    """The eval job of the worker (``skybridge worker run rag``)."""

    def run(tick: JobRun) -> dict[str, Any]:
        folder = ctx.config.eval_dataset
        if not folder:
            return {"evaluated": False, "reason": "rag.eval_dataset is not set"}
        dataset = load_query_set(folder)
        with open_rag(ctx) as rag:
            report = evaluate(rag, dataset)
        log.info("rag.scheduled_eval", dataset=report.dataset, regressions=len(report.regressions))
        return {"evaluated": True, "modes": report.modes, "regressions": report.regressions}

    return ScheduledJob(run, every=ctx.config.eval_every)

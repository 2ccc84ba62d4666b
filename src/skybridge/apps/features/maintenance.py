"""Upkeep of the offline log: compaction of every view's log, by hand (``skybridge features log
compact``) and as the app's scheduled job ``features.compact`` (every ``compact_every``
seconds, in ``skybridge up`` and ``skybridge worker run features``)."""

from __future__ import annotations

from typing import Any

from skybridge.apps.features.compaction import Compaction, Tracker, compact_view
from skybridge.apps.features.store import Context, FeatureStore, open_store
from skybridge.apps.kit.background import ScheduledJob
from skybridge.core.observability import get_logger
from skybridge.runtime.scheduler import JobRun

log = get_logger(__name__)
#: Seconds the scheduler keeps a compaction tick to one worker (a closed day of a busy log can
#: take minutes); each view also has its own lease, so a tick run twice compacts nothing twice.
JOB_LEASE = 3600.0


def compact_log(
    store: FeatureStore,
    view: str | None = None,
    *,
    dry_run: bool = False,
    tracker: Tracker | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Compact the offline log of ``view`` (default every view): ``{"views": [...], "total"}``.

    Raises:
        NotFound: no view is called ``view``.
    """
    views = [store.view(view)] if view is not None else store.views
    config = store.config
    done = [
        compact_view(
            store.objects,
            store.online.kv,
            chosen.name,
            config.offline_prefix,
            now=now,
            min_age=config.compact_after,
            target_bytes=config.compact_bytes,
            dry_run=dry_run,
            tracker=tracker,
        )
        for chosen in views
    ]
    return {"dry_run": dry_run, "views": [c.to_dict() for c in done], "total": _total(done)}


def _total(done: list[Compaction]) -> dict[str, Any]:
    def add(name: str) -> int | None:
        values = [getattr(c, name) for c in done]
        return None if any(v is None for v in values) else sum(values)

    names = ("files_before", "files_after", "bytes_before", "bytes_after", "merged_files")
    more = ("merged_rows", "written_files", "written_rows", "duplicates")
    return {name: add(name) for name in (*names, *more)} | {
        "busy": [c.view for c in done if c.busy]
    }


def compact_job(ctx: Context) -> ScheduledJob:
    """The scheduled compaction of every view's offline log."""

    def run(tick: JobRun) -> dict[str, Any]:
        with open_store(ctx, model=False, streams=False) as store:
            report = compact_log(store)
        total: dict[str, Any] = report["total"]
        log.info(
            "features.compact",
            merged=total["merged_files"],
            files_after=total["files_after"],
            busy=total["busy"],
        )
        return total

    return ScheduledJob(run, every=ctx.config.compact_every, lease_ttl=JOB_LEASE)

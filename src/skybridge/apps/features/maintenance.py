"""Upkeep of the offline log: compaction of every view's log, by hand (``skybridge features log
compact``) and as the app's scheduled job ``features.compact`` (every ``compact_every``
seconds, in ``skybridge up`` and ``skybridge worker run features``). :func:`last_compaction`
says when the job last ran and what it merged, or why it failed (the page and ``skybridge
features status`` show it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from skybridge.apps.features.compaction import Compaction, Tracker, compact_view
from skybridge.apps.features.store import Context, FeatureStore, open_store
from skybridge.apps.kit.background import ScheduledJob, job_state
from skybridge.core.clock import iso
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.core.words import counted
from skybridge.runtime.scheduler import JobRun, JobState

log = get_logger(__name__)
#: The compaction's name among the app's jobs (manifest): the scheduler knows it as
#: ``features.compact``.
JOB = "compact"
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


@dataclass(frozen=True)
class LastCompaction:
    """The scheduled compaction's last run as the scheduler recorded it (a compaction by hand
    is not recorded). Times are epoch seconds; ``ran_at`` is ``None`` when it never ran."""

    ran_at: float | None
    next_run: float | None
    #: What :func:`compact_log` totalled (``merged_files``, ``files_after``, ``busy``...),
    #: when the run succeeded.
    result: dict[str, Any] | None
    error: str | None
    runs: int
    failures: int

    @classmethod
    def of(cls, state: JobState) -> LastCompaction:
        result = state.last_result if isinstance(state.last_result, dict) else None
        error = None if state.last_error is None else scrub(state.last_error)
        return cls(state.last_run_at, state.next_run, result, error, state.runs, state.failures)

    @property
    def status(self) -> Literal["never", "failed", "succeeded"]:
        if self.ran_at is None:
            return "never"
        return "failed" if self.error is not None else "succeeded"

    def summary(self) -> str | None:
        """What the run merged, for people (``None`` unless it succeeded): ``22 files (430
        rows) into 3 files; the log has 3 files``."""
        if self.result is None:
            return None
        total = self.result
        after = counted(total.get("files_after") or 0, "file")
        if not total.get("merged_files"):
            return f"nothing to merge; the log has {after}"
        rows = total.get("merged_rows")
        merged = counted(total["merged_files"], "file")
        merged += "" if rows is None else f" ({counted(rows, 'row')})"
        written = counted(total.get("written_files") or 0, "file")
        return f"{merged} into {written}; the log has {after}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ran_at": iso(self.ran_at),
            "next_run": iso(self.next_run),
            "result": self.result,
            "error": self.error,
            "runs": self.runs,
            "failures": self.failures,
        }


def last_compaction(ctx: Context, store: FeatureStore) -> LastCompaction:
    """The last run of the job ``features.compact``, from the scheduler's record on
    ``backends.kv`` (the online store's kv, unless ``features.online`` names another)."""
    if ctx.config.online is None:
        return LastCompaction.of(job_state(store.online.kv, ctx.name, JOB))
    with ctx.connect("kv") as kv:
        return LastCompaction.of(job_state(kv, ctx.name, JOB))

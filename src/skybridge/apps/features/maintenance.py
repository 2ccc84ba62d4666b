"""Upkeep of the offline log: compaction of every view's log, by hand (``skybridge features log
compact``) and as the app's scheduled job ``features.compact`` (every ``compact_every``
seconds, in ``skybridge up`` and ``skybridge worker run features``). :func:`last_compaction`
says when the job last ran and what it merged, or why it failed, and the same of the last
compaction by hand (the page and ``skybridge features status`` show both)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from skybridge.apps.features.compaction import Compaction, Tracker, compact_view
from skybridge.apps.features.store import Context, FeatureStore, open_store
from skybridge.apps.kit.background import ScheduledJob, job_state
from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import iso
from skybridge.core.observability import error_summary, get_logger
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
#: The error recorded for a compaction by hand stopped with Ctrl-C.
INTERRUPTED = "interrupted (Ctrl-C) before it finished: the views before it may be compacted"
#: Where the last compaction by hand is recorded, on the same kv store as the job's record.
BY_HAND_KEY = "features/compaction/by-hand"


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


def compact_by_hand(
    ctx: Context,
    store: FeatureStore,
    view: str | None = None,
    *,
    dry_run: bool = False,
    tracker: Tracker | None = None,
) -> dict[str, Any]:
    """:func:`compact_log` run by a person (``skybridge features log compact``): unless a dry
    run, what it merged, or its error, is recorded for :func:`last_compaction` (a view that
    does not exist is refused first, and nothing is recorded).

    Raises:
        NotFound: no view is called ``view``.
    """
    if dry_run:
        return compact_log(store, view, dry_run=True, tracker=tracker)
    if view is not None:
        store.view(view)
    started = time.time()
    try:
        report = compact_log(store, view, tracker=tracker)
    except BaseException as exc:  # Ctrl-C too: views before it may be compacted already
        error = INTERRUPTED if isinstance(exc, KeyboardInterrupt) else error_summary(exc)
        _record_by_hand(ctx, store, started, view, None, error)
        raise
    _record_by_hand(ctx, store, started, view, report["total"], None)
    return report


def _record_by_hand(
    ctx: Context,
    store: FeatureStore,
    ran_at: float,
    view: str | None,
    result: dict[str, Any] | None,
    error: str | None,
) -> None:
    document = {"ran_at": ran_at, "view": view, "result": result, "error": error}
    try:
        with _records(ctx, store) as kv:
            kv.put_json(BY_HAND_KEY, document)
    except Exception as exc:  # the compaction's own outcome matters more than its record
        log.warning("features.compact_unrecorded", error=type(exc).__name__)


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
class ByHand:
    """The last compaction run by hand: when it started, the view it was given (``None``:
    every view), what it totalled or its error."""

    ran_at: float
    view: str | None
    result: dict[str, Any] | None
    error: str | None

    @classmethod
    def of(cls, document: Any) -> ByHand | None:
        if not isinstance(document, dict) or not isinstance(document.get("ran_at"), int | float):
            return None
        result = document.get("result")
        error = document.get("error")
        view = document.get("view")
        return cls(
            float(document["ran_at"]),
            view if isinstance(view, str) else None,
            result if isinstance(result, dict) else None,
            scrub(error) if isinstance(error, str) else None,
        )

    @property
    def status(self) -> Literal["failed", "succeeded"]:
        return "failed" if self.error is not None else "succeeded"

    def summary(self) -> str | None:
        return None if self.result is None else _summary(self.result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ran_at": iso(self.ran_at),
            "view": self.view,
            "result": self.result,
            "error": self.error,
        }


@dataclass(frozen=True)
class LastCompaction:
    """The scheduled compaction's last run as the scheduler recorded it, and the last one by
    hand (``by_hand``, ``None`` if none was recorded). Times are epoch seconds; ``ran_at`` is
    ``None`` when the job never ran."""

    ran_at: float | None
    next_run: float | None
    #: What :func:`compact_log` totalled (``merged_files``, ``files_after``, ``busy``...),
    #: when the run succeeded.
    result: dict[str, Any] | None
    error: str | None
    runs: int
    failures: int
    by_hand: ByHand | None = None

    @classmethod
    def of(cls, state: JobState, by_hand: ByHand | None = None) -> LastCompaction:
        result = state.last_result if isinstance(state.last_result, dict) else None
        error = None if state.last_error is None else scrub(state.last_error)
        return cls(
            state.last_run_at, state.next_run, result, error, state.runs, state.failures, by_hand
        )

    @property
    def status(self) -> Literal["never", "failed", "succeeded"]:
        if self.ran_at is None:
            return "never"
        return "failed" if self.error is not None else "succeeded"

    def summary(self) -> str | None:
        """What the run merged, for people (``None`` unless it succeeded): ``22 files (430
        rows) into 3 files; the log has 3 files``."""
        return None if self.result is None else _summary(self.result)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ran_at": iso(self.ran_at),
            "next_run": iso(self.next_run),
            "result": self.result,
            "error": self.error,
            "runs": self.runs,
            "failures": self.failures,
            "by_hand": None if self.by_hand is None else self.by_hand.to_dict(),
        }


def _summary(total: dict[str, Any]) -> str:
    after = counted(total.get("files_after") or 0, "file")
    if not total.get("merged_files"):
        return f"nothing to merge; the log has {after}"
    rows = total.get("merged_rows")
    merged = counted(total["merged_files"], "file")
    merged += "" if rows is None else f" ({counted(rows, 'row')})"
    written = counted(total.get("written_files") or 0, "file")
    return f"{merged} into {written}; the log has {after}"


def last_compaction(ctx: Context, store: FeatureStore) -> LastCompaction:
    """The last run of the job ``features.compact``, from the scheduler's record on
    ``backends.kv`` (the online store's kv, unless ``features.online`` names another), and
    the last compaction by hand recorded beside it."""
    with _records(ctx, store) as kv:
        return LastCompaction.of(job_state(kv, ctx.name, JOB), ByHand.of(kv.get_json(BY_HAND_KEY)))


@contextmanager
def _records(ctx: Context, store: FeatureStore) -> Iterator[KeyValueStore]:
    """The kv store the scheduler runs the app's jobs on: ``backends.kv``, which is the online
    store's unless ``features.online`` names another."""
    if ctx.config.online is None:
        yield store.online.kv
    else:
        with ctx.connect("kv") as kv:
            yield kv

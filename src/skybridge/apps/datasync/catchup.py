"""The scheduled batch job: each batch sync's windows from its watermark on, oldest first.

A batch sync's *watermark* (:mod:`.watermarks`) is the end of the last window that finished
with every window before it, since the job first ran that sync. Each tick runs, oldest first,
the complete windows after the watermark (resuming a batch that failed, passing one already
done) and moves the watermark past each window that finishes. So a window whose batch failed
(an outage), or that no process ran at its tick (every worker down over the tick), is run by a
later tick, and the watermark never passes a window that is not done.

* The first tick of a sync (no watermark yet) starts at the window that just ended.
* A window that fails ends its sync's part of the tick: the windows after it wait, so the
  watermark says how far the sync is complete. The tick then raises :class:`BatchSyncFailed`
  naming each failed batch, so the scheduler records the tick failed, with that error.
* A window another run is running ends its sync's part of the tick too (not a failure): the
  next tick passes it once it is done.
* A tick runs at most :data:`MAX_WINDOWS` windows of a sync. A sync further behind runs its
  oldest ones, logs ``datasync.batch_backlog`` and reports how many still wait (``behind``);
  the next ticks run them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from skybridge.apps.datasync.batches import BatchBusy, BatchRunner, window
from skybridge.apps.datasync.batchrecord import BatchRecord
from skybridge.apps.datasync.config import BatchSpec
from skybridge.apps.datasync.watermarks import Watermarks, windows_after
from skybridge.core.clock import iso, when
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)

#: Most windows of one batch sync a tick runs (oldest first); later ticks run the rest.
MAX_WINDOWS = 24


@dataclass
class SyncTick:
    """What one tick did for batch sync ``name``.

    ``ran``: batches it ran or resumed to the end; ``failed`` / ``error``: the batch that
    failed and why (the windows after it wait); ``busy``: a batch another run was running;
    ``behind``: complete windows still after the watermark; ``synced_through``: the watermark.
    """

    name: str
    synced_through: float | None = None
    behind: int = 0
    ran: list[str] = field(default_factory=list)
    failed: str | None = None
    error: str | None = None
    busy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "failed": self.failed,
            "error": self.error,
            "busy": self.busy,
            "behind": self.behind,
            "synced_through": iso(self.synced_through),
        }


class BatchSyncFailed(SkybridgeError):
    """A tick of the batch job left batches failed (each is resumed by the next tick)."""

    def __init__(self, failed: list[SyncTick]) -> None:
        parts = []
        for t in failed:
            part = f"batch sync {t.name}: {t.failed or 'its watermark'} failed ({t.error})"
            if t.synced_through is not None:
                part += f"; synced through {when(t.synced_through)}, {t.behind} window(s) behind"
            parts.append(part)
        super().__init__(
            "; ".join(parts),
            hint="the next tick resumes each failed batch; `skybridge datasync batch show ID` "
            "shows its steps",
        )
        self.failed = failed


def catch_up(
    runner: BatchRunner,
    marks: Watermarks,
    name: str,
    at: float,
    *,
    until: float | None = None,
) -> SyncTick:
    """Run batch sync ``name``'s windows after its watermark, up to the last complete one
    before ``at`` (at most :data:`MAX_WINDOWS`, oldest first; only the newest for a
    :func:`windowless` sync), moving the watermark past each window done; stop at the first
    window that fails or another run is running, and start no window once
    :func:`time.monotonic` is past ``until`` (the next tick runs the rest).

    Raises:
        SkybridgeError: the kv store failed reading or moving the watermark (a failed batch
            is reported in the answer instead).
    """
    spec = runner.env.config.batches[name]
    mark = marks.get(name)
    if mark is None:
        mark = marks.begin(name, window(spec.every, at)[0])
    todo, due = due_windows(spec, mark, at, MAX_WINDOWS)
    tick = SyncTick(name, synced_through=mark, behind=due)
    flat = windowless(spec)
    if due > len(todo) and not flat:
        log.warning(
            "datasync.batch_backlog",
            batch=name,
            behind=due,
            running=len(todo),
            synced_through=iso(mark),
        )
    for start, end in todo:
        if until is not None and time.monotonic() >= until:
            log.info("datasync.batch_tick_full", batch=name, behind=tick.behind)
            return tick  # the next tick runs the rest, under a lease of its own
        found = runner.records.for_window(name, spec.table, start, end)
        if found.state != "done":
            try:
                runner.run(name, at=end + spec.every / 2)
            except BatchBusy:
                tick.busy = found.id
                return tick
            except SkybridgeError as exc:
                log.warning("datasync.batch_failed", batch=name, id=found.id, error=str(exc))
                tick.failed, tick.error = found.id, f"{type(exc).__name__}: {exc}"
                return tick
            tick.ran.append(found.id)
        marks.advance(name, end)
        tick.synced_through, tick.behind = end, 0 if flat else tick.behind - 1
    return tick


def windowless(spec: BatchSpec) -> bool:
    """Whether batch sync ``spec``'s extract reads the same rows whatever the window: a
    ``prefix`` (every file under it), or a query without ``:window_start`` / ``:window_end``."""
    if spec.query is None:
        return True
    return not {"window_start", "window_end"} & set(text(spec.query).compile().params)


def due_windows(
    spec: BatchSpec, mark: float, at: float, limit: int
) -> tuple[list[tuple[float, float]], int]:
    """The windows a tick runs (oldest first) and how many are due, as
    :func:`~.watermarks.windows_after`; a :func:`windowless` sync runs only the newest due
    window, as each of the others would read the same rows again."""
    todo, due = windows_after(spec.every, mark, at, limit)
    if windowless(spec) and due > 1:
        return [window(spec.every, at)], due
    return todo, due


@dataclass(frozen=True)
class SyncProgress:
    """How far batch sync ``name`` is complete, as of ``now``.

    ``synced_through``: its watermark (``None``: the job never ran it); ``behind``: complete
    windows after it (``None`` likewise); ``waiting``: the batch of the first of them, when a
    run of it was recorded (failed, or stopped part way).
    """

    name: str
    every: float
    synced_through: float | None
    behind: int | None
    waiting: BatchRecord | None

    def to_dict(self) -> dict[str, Any]:
        waiting = self.waiting
        return {
            "name": self.name,
            "every": self.every,
            "synced_through": self.synced_through,
            "behind": self.behind,
            "waiting": None
            if waiting is None
            else {"id": waiting.id, "state": waiting.state, "error": waiting.error},
        }


def sync_progress(runner: BatchRunner, marks: Watermarks, name: str, now: float) -> SyncProgress:
    """Batch sync ``name``'s watermark, the windows after it, and the batch it waits on."""
    spec = runner.env.config.batches[name]
    mark = marks.get(name)
    if mark is None:
        return SyncProgress(name, spec.every, None, None, None)
    first, due = due_windows(spec, mark, now, 1)
    waiting = runner.records.for_window(name, spec.table, *first[0]) if first else None
    if waiting is not None and waiting.state in ("done", "pending"):
        waiting = None  # run by hand (the next tick passes it), or never run
    return SyncProgress(name, spec.every, mark, due, waiting)

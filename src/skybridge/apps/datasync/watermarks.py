"""How far each batch sync is complete: its watermark, and the windows after it.

A watermark is the end of the last window of a batch sync that finished with every window
before it (:mod:`.catchup` moves it); it lives under ``datasync/watermarks/<name>`` in the
app's kv store as ``{"end": <Unix seconds>}`` and only ever moves forward (compare-and-set), so
two ticks moving it at once leave the later end.
"""

from __future__ import annotations

import json
import math
from contextlib import suppress

from skybridge.apps.datasync.batches import window
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict

PREFIX = "datasync/watermarks/"
#: Part of a window by which a watermark may miss a window's end and still be at it (float
#: rounding of ``k * every``).
_SLACK = 1e-6
#: Compare-and-set attempts when other writers keep moving a watermark.
_ATTEMPTS = 5


def windows_after(
    every: float, mark: float, at: float, limit: int
) -> tuple[list[tuple[float, float]], int]:
    """The first ``limit`` complete windows (``(start, end)``, oldest first) of ``every``
    seconds that end after ``mark`` and at or before ``at``, and how many there are in all.

    A ``mark`` between window ends (``every`` changed) counts the window holding it.
    """
    last = math.floor(at / every)  # the end of the last complete window, in windows
    first = math.floor(mark / every + _SLACK) + 1
    due = max(0, last - first + 1)
    todo = [window(every, (k + 0.5) * every) for k in range(first, first + min(due, limit))]
    return todo, due


class Watermarks:
    """Batch syncs' watermarks in a kv store."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def get(self, name: str) -> float | None:
        """The watermark of batch sync ``name``; ``None`` before the job first ran it."""
        return _end(self.kv.get(PREFIX + name))

    def begin(self, name: str, end: float) -> float:
        """Set ``name``'s watermark to ``end`` unless it has one; the watermark."""
        with suppress(Conflict):  # another tick began it first
            self.kv.compare_and_set(PREFIX + name, _encode(end), 0)
        found = self.get(name)
        return end if found is None else found

    def advance(self, name: str, end: float) -> None:
        """Move ``name``'s watermark to ``end`` unless it is already there or later.

        Raises:
            Conflict: other writers kept moving it (after a few attempts).
        """
        for _ in range(_ATTEMPTS):
            item = self.kv.get_item(PREFIX + name)
            now = None if item is None else _end(item.value)
            if now is not None and now >= end:
                return
            try:
                expected = 0 if item is None else item.version
                self.kv.compare_and_set(PREFIX + name, _encode(end), expected)
                return
            except Conflict:
                continue
        raise Conflict(f"the watermark of batch sync {name!r} kept changing; not moved")


def _end(raw: bytes | None) -> float | None:
    """The end a stored watermark holds (``None``: none, or not one)."""
    if raw is None:
        return None
    try:
        return float(json.loads(raw)["end"])
    except (ValueError, KeyError, TypeError):
        return None


def _encode(end: float) -> bytes:
    return json.dumps({"end": end}).encode()

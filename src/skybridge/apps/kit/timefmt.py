"""How pages and CLIs show when something happened."""

from __future__ import annotations

import time

from skybridge.core.clock import when


def ago(ts: float | None, *, never: str = "never", now: float | None = None) -> str:
    """``12 s ago`` / ``5 min ago`` / ``3 h ago`` for a Unix time of the last day (the units
    durations are written in everywhere), else its UTC time as every page shows times
    (``2026-12-06 14:05 UTC``); ``never`` when there is none."""
    if ts is None:
        return never
    seconds = max(0, int((time.time() if now is None else now) - ts))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return when(ts)

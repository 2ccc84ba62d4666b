"""How pages and CLIs show when something happened."""

from __future__ import annotations

import time


def ago(ts: float | None, *, never: str = "never", now: float | None = None) -> str:
    """``12s ago`` / ``5m ago`` / ``3h ago`` for a Unix time of the last day, else its local date
    and time (``2026-12-06 14:05``); ``never`` when there is none."""
    if ts is None:
        return never
    seconds = max(0, int((time.time() if now is None else now) - ts))
    if seconds < 60:
        return f"{seconds}s ago"
    if seconds < 3600:
        return f"{seconds // 60}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))

"""Time as a dependency, so TTLs, rate limits and schedules can be tested without sleeping."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock tests move by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


SYSTEM_CLOCK: Clock = SystemClock()


def iso(seconds: float | None) -> str | None:
    """ISO 8601 UTC text of epoch seconds, milliseconds kept: ``2026-12-06T23:20:01.250Z``."""
    if seconds is None:
        return None
    moment = datetime.fromtimestamp(seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration_text(seconds: float) -> str:
    """A duration for people: ``850 ms``, ``42 s``, ``17 min``, ``3.2 h``, ``4.1 d``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h" if seconds < 172800 else f"{seconds / 86400:.1f} d"


def when(value: datetime | str | float | None, *, seconds: bool = False) -> str:
    """A time for people, to the minute in UTC (``2026-12-06 23:20 UTC``; ``—`` for none), from
    a datetime (naive ones are UTC), ISO 8601 text or epoch seconds; to the second with
    ``seconds`` (``2026-12-06 23:20:05 UTC``)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    elif not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, tz=UTC)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")

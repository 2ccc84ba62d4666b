"""Delivery policy shared by every notifier: incident de-duplication and a token-bucket rate limit.

Both are read from the backend URL (``?dedup_window=3600&rate=10/min``) and driven by an
injectable :class:`~skybridge.core.clock.Clock`, so tests move time by hand instead of sleeping.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from skybridge.core.errors import ConfigError

DEFAULT_DEDUP_WINDOW = 3600.0

_PERIODS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


@runtime_checkable
class DedupStore(Protocol):
    """Where notifiers remember which incidents they have already announced.

    The in-memory default is per process; a shared store (for example one built on a kv backend
    with set-if-absent and a TTL) makes several processes announce an incident once.
    """

    def claim(self, key: str, *, now: float, ttl: float) -> bool:
        """Hold ``key`` for ``ttl`` seconds from ``now``; ``False`` when it is already held."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key`` (the message it guarded could not be delivered)."""
        ...


class MemoryDedupStore:
    """A thread-safe :class:`DedupStore` in this process's memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}

    def claim(self, key: str, *, now: float, ttl: float) -> bool:
        with self._lock:
            if self._expiry.get(key, float("-inf")) > now:
                return False
            self._expiry[key] = now + ttl
            if len(self._expiry) > 10_000:
                self._expiry = {k: t for k, t in self._expiry.items() if t > now}
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._expiry.pop(key, None)


@dataclass(frozen=True)
class RateLimit:
    """``count`` messages per ``period`` seconds, with bursts of up to ``count``."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Parse ``"10/min"``, ``"1/s"``, ``"100/hour"`` or ``"5/30s"``."""
        match = _RATE.match(text.lower())
        unit = match and _PERIODS.get(match.group(3))
        if not match or unit is None or int(match.group(1)) < 1:
            raise ConfigError(
                f"bad notify rate '{text}'",
                setting="backends.notify",
                hint="write it as COUNT/PERIOD, for example rate=10/min or rate=1/s",
            )
        multiple = float(match.group(2) or 1)
        return cls(int(match.group(1)), multiple * unit)


class TokenBucket:
    """A thread-safe token bucket; one token per message."""

    def __init__(self, limit: RateLimit, *, now: float) -> None:
        self.limit = limit
        self._tokens = float(limit.count)
        self._updated = now
        self._lock = threading.Lock()

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        with self._lock:
            elapsed = max(0.0, now - self._updated)
            refill = elapsed * self.limit.count / self.limit.period
            self._tokens = min(float(self.limit.count), self._tokens + refill)
            self._updated = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a notifier thins out a flood: ``dedup_window`` seconds per incident, ``rate`` overall."""

    dedup_window: float = DEFAULT_DEDUP_WINDOW
    rate: RateLimit | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> DeliveryPolicy:
        """Read ``dedup_window`` (seconds, 0 turns it off) and ``rate`` from URL parameters."""
        window = params.get("dedup_window", str(DEFAULT_DEDUP_WINDOW))
        try:
            dedup_window = float(window)
        except ValueError:
            dedup_window = -1.0
        if dedup_window < 0:
            raise ConfigError(
                f"bad notify dedup_window '{window}'",
                setting="backends.notify",
                hint="give seconds, for example dedup_window=3600 (0 turns de-duplication off)",
            )
        rate = params.get("rate")
        return cls(dedup_window, RateLimit.parse(rate) if rate else None)

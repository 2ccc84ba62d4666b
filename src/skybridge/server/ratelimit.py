"""Token buckets: each key (an API token, or a client address) may spend ``burst`` requests at
once and earns ``rate`` more per second.

Buckets live in this process only (each uvicorn worker process counts on its own) and the table
keeps at most ``max_keys`` of them, forgetting the least recently seen first, so a client that
cycles through addresses cannot grow memory without bound.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass(frozen=True)
class Decision:
    """Whether a request may go ahead; when not, how many seconds until it may."""

    allowed: bool
    retry_after: int = 0


class BucketTable:
    """Rate limits by key: ``rate`` requests per second on average, ``burst`` at once.

    Args:
        rate: Requests per second each key earns; 0 turns limiting off.
        burst: Requests a key may make at once (the bucket's size).
        clock: Monotonic seconds (``time.monotonic``; tests pass their own).
        max_keys: Buckets kept at most; the least recently used are forgotten first.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = DEFAULT_MAX_KEYS,
    ) -> None:
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            earned = (now - bucket.updated) * self.rate
            bucket.tokens = min(float(self.burst), bucket.tokens + earned)
            bucket.updated = now
        return bucket

    def _refusal(self, bucket: _Bucket) -> Decision:
        wait = (1.0 - bucket.tokens) / self.rate
        return Decision(False, max(1, math.ceil(wait)))

    def take(self, key: str) -> Decision:
        """Spend one request of ``key``'s bucket, if it has one."""
        if not self.enabled:
            return Decision(True)
        bucket = self._refilled(key)
        if bucket.tokens < 1.0:
            return self._refusal(bucket)
        bucket.tokens -= 1.0
        return Decision(True)

    def check(self, key: str) -> Decision:
        """Whether ``key`` has a request left, without spending it."""
        if not self.enabled or key not in self._buckets:
            return Decision(True)
        bucket = self._refilled(key)
        return Decision(True) if bucket.tokens >= 1.0 else self._refusal(bucket)

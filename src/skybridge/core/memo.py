"""Values built once per key and kept, for work that many concurrent callers would otherwise each
repeat (a burst of first requests building the same document in every worker thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BuiltOnce(Generic[K, V]):
    """``get(key, build)`` builds the value of ``key`` once; callers asking while it is built
    wait for that build. At most ``kept`` values are kept: when full, all are dropped.

    Callers that change what they get must copy it first: every caller gets the same value.
    """

    def __init__(self, kept: int = 1024) -> None:
        self.kept = kept
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()

    def built(self, key: K) -> V | None:
        """The value of ``key`` if it is built (never waits for a build)."""
        return self._values.get(key)

    def get(self, key: K, build: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                return self._values[key]
            if len(self._values) >= self.kept:
                self._values.clear()
            value = self._values[key] = build()
            return value

"""Served lists (``rec_served``) published in the background, in batches.

The serving path only appends to a buffer; a daemon thread publishes what has gathered every
``every`` seconds (sooner when ``most`` are waiting), so a request never waits for the stream.
``close`` publishes what is left. Impressions are metrics: a process that dies loses at most
its last interval's, and a buffer over ``limit`` (the stream unreachable for long) drops the
oldest with a warning rather than growing without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from skybridge.apps.recommend.events import UserEvent
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)


class ImpressionLog:
    """A buffer of served lists and the thread that publishes it."""

    def __init__(
        self,
        publish: Callable[[list[UserEvent]], int],
        *,
        every: float = 0.5,
        most: int = 500,
        limit: int = 100_000,
    ) -> None:
        self._publish = publish
        self.every, self.most, self.limit = every, most, limit
        self._pending: list[UserEvent] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, event: UserEvent) -> None:
        with self._lock:
            self._pending.append(event)
            if len(self._pending) > self.limit:
                del self._pending[: len(self._pending) - self.limit]
                log.warning("recommend.impressions_dropped", kept=self.limit)
            waiting = len(self._pending)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="recommend-impressions", daemon=True
                )
                self._thread.start()
        if waiting >= self.most:
            self._wake.set()

    def flush(self) -> int:
        """Publish what is waiting now; how many were published."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            return self._publish(batch)
        except SkybridgeError as exc:
            log.warning("recommend.impressions_failed", reason=str(exc), waiting=len(batch))
            with self._lock:
                self._pending = batch + self._pending
            return 0

    def close(self) -> None:
        """Stop the thread and publish what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.every)
            self._wake.clear()
            self.flush()

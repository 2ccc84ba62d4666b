"""Thread lanes: a few threads of their own for short work that must not queue behind the
worker pool (checking a token, rendering ``/metrics``).

Sync routes run in AnyIO's default thread pool (``server.worker_threads``); when long requests
hold all of it, anything else sent there waits. A lane has its own AnyIO capacity limiter, per
event loop, so its work starts at once and the event loop never runs it itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from anyio.lowlevel import RunVar

T = TypeVar("T")


class ThreadLane:
    """At most ``threads`` calls at once, in threads apart from the worker pool.

    Args:
        name: Names the lane's limiter (one per event loop).
        threads: Calls that may run at once; more wait for a free thread of this lane.
    """

    def __init__(self, name: str, threads: int) -> None:
        self.threads = threads
        self._limiter: RunVar[CapacityLimiter] = RunVar(name)

    def limiter(self) -> CapacityLimiter:
        """This lane's limiter on the running event loop."""
        try:
            return self._limiter.get()
        except LookupError:
            limiter = CapacityLimiter(self.threads)
            self._limiter.set(limiter)
            return limiter

    async def run(self, function: Callable[..., T], *args: object) -> T:
        """``function(*args)`` in one of this lane's threads."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self.limiter())


#: Bearer-token checks of the request guard.
AUTH_LANE = ThreadLane("skybridge_auth_lane", 8)
#: Rendering ``/metrics`` (CPU work and ``/proc`` reads).
METRICS_LANE = ThreadLane("skybridge_metrics_lane", 1)


def size_worker_pool(threads: int) -> None:
    """Size AnyIO's default thread limiter (used by sync routes) for the running event loop."""
    limiter = anyio.to_thread.current_default_thread_limiter()
    if limiter.total_tokens != threads:
        limiter.total_tokens = threads

"""Retry transient errors only, with exponential backoff and full jitter."""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from skybridge.core.errors import TransientError
from skybridge.core.observability import RETRIES, get_logger

P = ParamSpec("P")
R = TypeVar("R")

log = get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry.

    The delay before attempt ``n`` (1-based, after the first failure) is drawn uniformly from
    ``[0, min(max_delay, base_delay * 2**(n-1))]`` (full jitter), or the server's ``retry_after``
    hint when larger. ``deadline`` caps the total time spent.
    """

    attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 10.0
    deadline: float | None = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        cap = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, cap)


def call_with_retry(
    fn: Callable[[], R],
    policy: RetryPolicy = RetryPolicy(),
    *,
    operation: str = "call",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> R:
    """Call ``fn`` until it succeeds, raises a non-transient error, or the policy gives up."""
    start = clock()
    attempt = 1
    while True:
        try:
            return fn()
        except TransientError as exc:
            if attempt >= policy.attempts:
                raise
            wait = max(policy.delay(attempt), exc.retry_after or 0.0)
            if policy.deadline is not None and clock() - start + wait > policy.deadline:
                raise
            RETRIES.labels(operation).inc()
            log.info(
                "retrying",
                operation=operation,
                attempt=attempt,
                wait_s=round(wait, 3),
                error=str(exc),
            )
            sleep(wait)
            attempt += 1


def retrying(
    policy: RetryPolicy = RetryPolicy(), *, operation: str | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of :func:`call_with_retry`."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def inner(*args: P.args, **kwargs: P.kwargs) -> R:
            return call_with_retry(
                lambda: fn(*args, **kwargs), policy, operation=operation or fn.__qualname__
            )

        return inner

    return wrap

"""Retries: transient errors only, bounded backoff with jitter, server hints, deadlines."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.core.errors import Conflict, TransientError
from skybridge.core.retry import RetryPolicy, call_with_retry, retrying


class Flaky:
    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_transient_errors_are_retried_until_success() -> None:
    sleeps: list[float] = []
    flaky = Flaky(3, TransientError("throttled"))
    assert call_with_retry(flaky, RetryPolicy(attempts=5), sleep=sleeps.append) == "done"
    assert flaky.calls == 4
    assert len(sleeps) == 3


def test_other_errors_are_not_retried() -> None:
    flaky = Flaky(1, Conflict("version exists"))
    with pytest.raises(Conflict):
        call_with_retry(flaky, sleep=lambda _: None)
    assert flaky.calls == 1


def test_gives_up_after_attempts() -> None:
    flaky = Flaky(10, TransientError("down"))
    with pytest.raises(TransientError):
        call_with_retry(flaky, RetryPolicy(attempts=3), sleep=lambda _: None)
    assert flaky.calls == 3


def test_retry_after_hint_is_honoured() -> None:
    sleeps: list[float] = []
    flaky = Flaky(1, TransientError("429", retry_after=2.5))
    call_with_retry(flaky, RetryPolicy(base_delay=0.01), sleep=sleeps.append)
    assert sleeps == [2.5]


def test_deadline_stops_retrying() -> None:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    flaky = Flaky(100, TransientError("slow", retry_after=4))
    with pytest.raises(TransientError):
        call_with_retry(
            flaky, RetryPolicy(attempts=100, deadline=10), sleep=sleep, clock=lambda: now[0]
        )
    assert flaky.calls == 3  # waits 4 + 4, a third wait would pass the 10 s deadline


@given(attempt=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_delay_is_full_jitter_within_cap(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=5.0)
    delay = policy.delay(attempt, random.Random(seed))
    assert 0 <= delay <= min(5.0, 0.1 * 2 ** (attempt - 1))


def test_decorator() -> None:
    flaky = Flaky(2, TransientError("blip"))

    @retrying(RetryPolicy(attempts=3, base_delay=0.0))
    def op() -> str:
        return flaky()

    assert op() == "done"

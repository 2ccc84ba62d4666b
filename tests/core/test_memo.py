"""BuiltOnce: one build per key however many callers ask at once, and a bound on what it keeps."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from skybridge.core.memo import BuiltOnce, Shared


def test_callers_asking_while_a_value_is_built_share_that_build() -> None:
    values: BuiltOnce[str, list[int]] = BuiltOnce()
    builds: list[int] = []
    start = threading.Barrier(6)

    def build() -> list[int]:
        builds.append(1)
        time.sleep(0.1)
        return [len(builds)]

    def ask(_: int) -> list[int]:
        start.wait()
        return values.get("k", build)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))
    assert builds == [1]
    assert all(a is answers[0] for a in answers)
    assert values.built("k") is answers[0]
    assert values.built("other") is None


def test_a_full_memo_drops_what_it_kept_and_builds_again() -> None:
    values: BuiltOnce[int, str] = BuiltOnce(kept=2)
    builds: list[int] = []

    def build(key: int) -> str:
        builds.append(key)
        return str(key)

    for key in (1, 2, 1, 3, 1):
        assert values.get(key, lambda key=key: build(key)) == str(key)  # type: ignore[misc]
    assert builds == [1, 2, 3, 1]


def test_callers_asking_while_a_call_runs_share_its_answer_and_later_ones_call_again() -> None:
    shared: Shared[str, int] = Shared()
    calls: list[int] = []
    start = threading.Barrier(6)

    def work() -> int:
        calls.append(1)
        time.sleep(0.2)
        return len(calls)

    def ask(_: int) -> int:
        start.wait()
        return shared.call("round", work)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))
    assert answers == [1] * 6
    assert calls == [1]
    assert shared.call("round", work) == 2  # nothing kept: the next caller runs it again
    assert shared.call("other", work) == 3


def test_a_failed_call_fails_every_caller_that_waited_for_it_and_is_not_kept() -> None:
    shared: Shared[str, int] = Shared()
    running = threading.Event()
    release = threading.Event()

    def fail() -> int:
        running.set()
        release.wait(5)
        raise RuntimeError("backend down")

    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(shared.call, "k", fail)
        assert running.wait(5)
        waiters = [pool.submit(shared.call, "k", lambda: 0) for _ in range(2)]
        time.sleep(0.05)
        release.set()
        for future in [first, *waiters]:
            with pytest.raises(RuntimeError, match="backend down"):
                future.result(5)
    assert shared.call("k", lambda: 7) == 7

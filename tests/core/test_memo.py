"""BuiltOnce: one build per key however many callers ask at once, and a bound on what it keeps."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from skybridge.core.errors import ConfigError
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


@pytest.fixture
def waiting(monkeypatch: pytest.MonkeyPatch) -> threading.Semaphore:
    """Released each time a caller of ``Shared.call`` in a worker thread starts waiting for
    the running call (so a test can hold that call until its waiters are there)."""
    waiters = threading.Semaphore(0)
    result = Future.result

    def counted(self: Future[Any], timeout: float | None = None) -> Any:
        if threading.current_thread() is not threading.main_thread():
            waiters.release()
        return result(self, timeout)

    monkeypatch.setattr(Future, "result", counted)
    return waiters


def test_a_failed_call_fails_every_caller_that_waited_for_it_and_is_not_kept(
    waiting: threading.Semaphore,
) -> None:
    shared: Shared[str, int] = Shared()

    def fail() -> int:
        for _ in range(2):  # both waiters are waiting before it fails
            assert waiting.acquire(timeout=5)
        raise RuntimeError("backend down")

    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(shared.call, "k", fail)
        waiters = [pool.submit(shared.call, "k", lambda: 0) for _ in range(2)]
        errors = []
        for future in [first, *waiters]:
            with pytest.raises(RuntimeError, match="backend down") as caught:
                future.result(5)
            errors.append(caught.value)
    assert shared.call("k", lambda: 7) == 7
    # each waiter got its own copy, chained to the error of the call it waited for
    assert errors[1] is not errors[2]
    assert errors[1].__cause__ is errors[0]
    assert errors[2].__cause__ is errors[0]


class NeedsKeywords(Exception):
    """An error whose constructor wants keyword arguments and formats its message."""

    def __init__(self, package: str, *, feature: str) -> None:
        super().__init__(f"{feature} needs {package}")
        self.package = package
        self.feature = feature


@pytest.mark.parametrize(
    "error",
    [
        NeedsKeywords("usearch", feature="HNSW search"),
        FileNotFoundError(2, "No such file or directory", "/nowhere"),
        ConfigError("bad value", setting="backends.kv", hint="give a URL"),
    ],
)
def test_a_waiter_gets_a_faithful_copy_of_any_error_and_the_original_keeps_its_cause(
    error: Exception, waiting: threading.Semaphore
) -> None:
    shared: Shared[str, int] = Shared()
    cause = RuntimeError("underneath")
    error.add_note("a note")

    def fail() -> int:
        assert waiting.acquire(timeout=5)
        raise error from cause

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(shared.call, "k", fail)
        waiter = pool.submit(shared.call, "k", lambda: 0)
        with pytest.raises(type(error)) as owner:
            first.result(5)
        with pytest.raises(type(error)) as copied:
            waiter.result(5)
    assert owner.value is error
    assert error.__cause__ is cause  # the one raised to the caller that ran it is untouched
    assert copied.value is not error
    assert copied.value.__cause__ is error
    assert str(copied.value) == str(error)
    assert vars(copied.value) == {**vars(error), "__notes__": ["a note"]}
    assert copied.value.__notes__ is not error.__notes__

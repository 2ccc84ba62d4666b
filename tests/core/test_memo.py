"""BuiltOnce: one build per key however many callers ask at once, and a bound on what it keeps."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from skybridge.core.memo import BuiltOnce


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

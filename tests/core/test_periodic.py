"""Periodic: a tick every interval in a thread of its own, until stopped or the tick says so."""

from __future__ import annotations

import threading
import time

from skybridge.core.periodic import STOP, Periodic


def test_ticks_every_interval_until_the_block_ends() -> None:
    ticks: list[float] = []
    started = time.monotonic()
    with Periodic(0.05, lambda: ticks.append(time.monotonic()), name="test-ticks"):
        time.sleep(0.32)
    count = len(ticks)
    time.sleep(0.15)
    assert len(ticks) == count  # stopped with the block
    assert 3 <= count <= 7, ticks
    assert ticks[0] - started >= 0.05  # the first tick comes one interval after the start


def test_a_tick_answering_stop_ends_the_thread_and_no_other_answer_does() -> None:
    ticks: list[int] = []

    def tick() -> object:
        ticks.append(1)
        return False if len(ticks) < 2 else STOP  # False is an answer like any other

    periodic = Periodic(0.01, tick, name="test-false")
    periodic.start()
    deadline = time.monotonic() + 5
    while len(ticks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert ticks == [1, 1]
    assert not any(t.name == "test-false" for t in threading.enumerate())
    periodic.stop()


def test_stop_waits_for_a_tick_in_progress_and_needs_no_start() -> None:
    Periodic(0.01, lambda: None, name="never-started").stop()  # nothing to wait for
    inside = threading.Event()
    done: list[bool] = []

    def slow() -> None:
        inside.set()
        time.sleep(0.2)
        done.append(True)

    periodic = Periodic(0.01, slow, name="test-slow")
    periodic.start()
    assert inside.wait(5)
    periodic.stop()
    assert done == [True]

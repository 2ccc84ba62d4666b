"""A batch slower than the SQLite log's ``session_timeout`` (audit 3, finding 2).

A member busy with one batch keeps its partitions while no other member takes them, so its
commit succeeds; when another member really took a partition meanwhile, the commit is refused
and the records are read again (not kept behind an in-memory position), with effects once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.streams import Message, StreamBackend
from skybridge.runtime.outputs import Event, Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink


def make_log(path: Path, options: str = "") -> StreamBackend:
    backend = streams_family.connect(
        f"sqlite:///{path}/log.db?session_timeout=1&heartbeat_interval=0.1{options}"
    )
    backend.create_topic("t", 1)
    return backend


@pytest.fixture
def log(tmp_path: Path) -> StreamBackend:
    """A log whose members stop their background heartbeat 0.2 s after their last poll, as
    a member stuck in one batch does after ``max_poll_interval``."""
    return make_log(tmp_path, "&max_poll_interval=0.2")


@pytest.fixture
def kv(tmp_path: Path) -> KeyValueStore:
    return kv_family.connect(f"sqlite:///{tmp_path}/kv.db", setting=None)


def produce(log: StreamBackend, count: int) -> None:
    log.produce("t", [Message(json.dumps(i).encode(), b"k%d" % (i % 3)) for i in range(count)])


def pipeline(log: StreamBackend, kv: KeyValueStore, handler: Any) -> Pipeline:
    return Pipeline("slow", source=log, topics=["t"], handler=handler, sinks={"kv": KVSink(kv)})


def hits(kv: KeyValueStore) -> int:
    return sum(KVSink(kv).get(f"hits/k{i}") or 0 for i in range(3))


def test_a_sole_member_commits_a_batch_slower_than_the_session_timeout(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, 30)

    def slow(event: Event) -> list[Any]:
        time.sleep(0.05)  # 30 records: 1.5 s, longer than the 1 s session timeout
        return [Update(f"hits/{event.key}", lambda c: (c or 0) + 1)]

    stats = pipeline(log, kv, slow).run(idle_exit=0.5)
    assert stats.records == 30
    assert log.committed("slow", "t") == {0: 30}
    assert log.total_lag("slow", "t") == 0
    assert pipeline(log, kv, slow).run(idle_exit=0.3).records == 0  # nothing left to redo
    assert hits(kv) == 30


def test_a_partition_taken_mid_batch_is_refused_and_redelivered_not_lost(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, 6)
    taken: list[int] = []

    def slow(event: Event) -> list[Any]:
        if not taken:
            time.sleep(1.5)  # stuck: the lease expires, another member takes the partition
            with log.consumer("slow", ["t"]) as other:
                assert other.wait_for_assignment(5)
                taken.append(len(other.poll(100, 1.0)))  # reads, commits nothing, leaves
        return [Update(f"hits/{event.key}", lambda c: (c or 0) + 1)]

    stats = pipeline(log, kv, slow).run(idle_exit=0.5)
    assert taken == [6]
    assert stats.records == 12  # the refused batch came again
    assert log.committed("slow", "t") == {0: 6}
    assert log.total_lag("slow", "t") == 0
    assert hits(kv) == 6  # effects once


def test_a_slow_batch_keeps_its_partition_from_other_members(
    tmp_path: Path, kv: KeyValueStore
) -> None:
    """With the default ``max_poll_interval`` the background heartbeat holds the lease through
    a batch longer than ``session_timeout``: another member polling meanwhile gets nothing,
    and nothing is read twice."""
    log = make_log(tmp_path)
    produce(log, 6)
    polled: list[int] = []

    def slow(event: Event) -> list[Any]:
        if not polled:
            with log.consumer("slow", ["t"]) as other:
                deadline = time.monotonic() + 2.0  # twice the session timeout
                while time.monotonic() < deadline:
                    polled.append(len(other.poll(100, 0.2)))
        return [Update(f"hits/{event.key}", lambda c: (c or 0) + 1)]

    stats = pipeline(log, kv, slow).run(idle_exit=0.5)
    assert polled
    assert not any(polled)
    assert stats.records == 6  # read once
    assert log.committed("slow", "t") == {0: 6}
    assert hits(kv) == 6

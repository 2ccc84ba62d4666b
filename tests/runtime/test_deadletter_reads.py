"""Listing dead letters reads the dead-letter topic up to its end offsets, joining no group:
at once on every backend (a Kafka group join takes seconds), empty or missing topics too."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from skybridge.backends.streams import Message, Record, StreamBackend, connect
from skybridge.runtime.deadletter import (
    CLAIM_LEASE,
    REPLAY_GROUP,
    DeadLetters,
    letter_message,
)
from skybridge.testing.contracts.streams import unique

#: Longest a listing of a few dozen letters may take (it took over 5 s on Kafka when it joined
#: a consumer group).
AT_ONCE = 2.0


@pytest.fixture(params=["sqlite", pytest.param("kafka", marks=pytest.mark.kafka)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StreamBackend]:
    if request.param == "sqlite":
        found = connect(f"sqlite:///{tmp_path}/log.db?session_timeout=2")
    else:
        server = request.getfixturevalue("kafka_server")
        found = connect(f"{server.url}?session_timeout=6&heartbeat_interval=0.5")
    yield found
    found.close()


@pytest.fixture
def kafka_backend(kafka_server: Any) -> Iterator[StreamBackend]:
    found = connect(f"{kafka_server.url}?session_timeout=6&heartbeat_interval=0.5")
    yield found
    found.close()


def timed(letters: DeadLetters) -> list[object]:
    started = time.monotonic()
    found = letters.letters()
    assert time.monotonic() - started < AT_ONCE
    return list(found)


def park_letters(backend: StreamBackend, topic: str, count: int) -> DeadLetters:
    backend.create_topic(topic, 2)
    letters = DeadLetters(backend, topic)
    messages = [
        letter_message(Record(topic, i % 2, i, b"k%d" % i, b"v%d" % i), "ValueError", "bad", "p")
        for i in range(count)
    ]
    letters.park(messages[0])
    backend.produce(letters.name, messages[1 : count // 2])  # one batch
    for message in messages[count // 2 :]:
        letters.park(message)
    backend.produce(letters.name, messages[3:5])  # duplicates (a worker died before its flush)
    return letters


def test_letters_are_listed_at_once_in_order_with_replayed_marks(backend: StreamBackend) -> None:
    topic = unique("orders")
    letters = park_letters(backend, topic, 50)
    listed = letters.letters()
    letters.mark_replayed(listed[7])
    letters.mark_replayed(listed[4])  # has a duplicate
    found = timed(letters)
    assert found == letters.letters()
    assert [d.id for d in letters.letters()] == [f"0:{i}" for i in range(50)]
    assert [d.offset for d in letters.letters()] == list(range(50))
    assert [d.value for d in letters.letters()] == [b"v%d" % i for i in range(50)]
    assert [d.id for d in letters.letters() if d.replayed] == ["0:4", "0:7"]


def test_an_empty_or_missing_dead_letter_topic_answers_at_once(backend: StreamBackend) -> None:
    topic = unique("orders")
    backend.create_topic(topic, 1)
    assert timed(DeadLetters(backend, topic)) == []
    backend.create_topic(topic + ".dlq", 1)
    assert timed(DeadLetters(backend, topic)) == []


def test_listing_joins_no_group_and_replay_still_commits(backend: StreamBackend) -> None:
    topic = unique("orders")
    letters = park_letters(backend, topic, 6)
    groups = backend.groups()
    assert len(timed(letters)) == 6
    assert backend.groups() == groups
    assert [d.offset for d in letters.replay()] == list(range(6))
    assert backend.committed(REPLAY_GROUP, letters.name) == {0: 8}  # 6 letters, 2 duplicates
    assert all(d.replayed for d in timed(letters))
    assert letters.replay() == []


# -- Kafka: replay joins no group ------------------------------------------------------------


def _refuse_groups(backend: StreamBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    def consumer(*args: object, **kwargs: object) -> NoReturn:
        raise AssertionError(f"joined a consumer group: {args}")

    monkeypatch.setattr(backend, "consumer", consumer)


@pytest.mark.kafka
def test_a_kafka_replay_never_subscribes_and_commits_the_group(
    kafka_backend: StreamBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    letters = park_letters(kafka_backend, unique("orders"), 6)
    _refuse_groups(kafka_backend, monkeypatch)
    assert [d.offset for d in letters.replay(["0:2"])] == [2]
    assert kafka_backend.committed(REPLAY_GROUP, letters.name) == {0: None}  # ids: no commit
    assert [d.offset for d in letters.replay()] == [0, 1, 3, 4, 5]
    # past every letter and duplicate, and the marker of the first replay
    assert kafka_backend.committed(REPLAY_GROUP, letters.name) == {0: 11}
    assert letters.replay() == []
    assert sum(kafka_backend.end_offsets(letters.topic).values()) == 6  # each once


@pytest.mark.kafka
def test_a_kafka_replay_works_while_another_consumer_holds_the_group(
    kafka_backend: StreamBackend,
) -> None:
    """A member of ``skybridge-dlq`` that does not poll used to keep a replay waiting for the
    partition until it gave up, replaying nothing."""
    letters = park_letters(kafka_backend, unique("orders"), 4)
    with kafka_backend.consumer(REPLAY_GROUP, [letters.name]) as member:
        assert member.wait_for_assignment(30.0)
        assert [d.offset for d in letters.replay()] == [0, 1, 2, 3]
        # the group has a member: its position stays the member's to commit
        assert kafka_backend.committed(REPLAY_GROUP, letters.name) == {0: None}
    assert all(d.replayed for d in letters.letters())


def _replay_at_once(backends: list[StreamBackend], topic: str) -> list[list[str]]:
    """Replay ``topic``'s letters on each of ``backends`` at once: the ids each replayed."""
    barrier = threading.Barrier(len(backends))
    replayed: list[list[str]] = [[] for _ in backends]

    def replay(i: int) -> None:
        barrier.wait()
        replayed[i] = [d.id for d in DeadLetters(backends[i], topic).replay()]

    threads = [threading.Thread(target=replay, args=(i,)) for i in range(len(backends))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return replayed


@pytest.mark.kafka
def test_two_kafka_replays_at_once_republish_each_letter_once(kafka_server: Any) -> None:
    for _ in range(3):
        backends = [connect(kafka_server.url) for _ in range(2)]
        topic = unique("orders")
        letters = park_letters(backends[0], topic, 12)
        first, second = _replay_at_once(backends, topic)
        assert sorted(first + second) == sorted(f"0:{i}" for i in range(12))
        assert sum(backends[0].end_offsets(topic).values()) == 12
        assert all(d.replayed for d in letters.letters())
        for backend in backends:
            backend.close()


def _claim(letters: DeadLetters, token: str, ids: list[str], at: float | None = None) -> None:
    headers = [
        ("skybridge-dlq-claim", token.encode()),
        ("skybridge-dlq-claimed", ",".join(ids).encode()),
    ]
    letters.backend.produce(letters.name, [Message(b"", None, headers, 0, at)])


@pytest.mark.kafka
def test_a_live_claim_keeps_its_letters_a_lapsed_or_released_one_does_not(
    kafka_backend: StreamBackend,
) -> None:
    letters = park_letters(kafka_backend, unique("orders"), 6)
    _claim(letters, "running", ["0:0", "0:1"])
    _claim(letters, "stopped", ["0:2"], at=time.time() - CLAIM_LEASE - 30)
    _claim(letters, "finished", ["0:3"])
    release = [("skybridge-dlq-claim", b"finished"), ("skybridge-dlq-released", b"")]
    kafka_backend.produce(letters.name, [Message(b"", None, release, 0)])
    assert len(letters.letters()) == 6  # claims and releases are no letters
    assert [d.id for d in letters.replay()] == ["0:2", "0:3", "0:4", "0:5"]
    assert [d.id for d in letters.letters() if not d.replayed] == ["0:0", "0:1"]


@pytest.mark.kafka
def test_claims_and_releases_carry_a_marker_header_for_readers_that_know_only_markers(
    kafka_backend: StreamBackend,
) -> None:
    letters = park_letters(kafka_backend, unique("orders"), 6)
    assert len(letters.replay()) == 6
    records = kafka_backend.read_to_end(letters.name)
    parked = [r for r in records if any(k == "skybridge-dlq-topic" for k, _ in r.headers)]
    unmarked = [r for r in records if not any(k == "skybridge-dlq-replayed" for k, _ in r.headers)]
    assert len(parked) == 8  # 6 letters, 2 duplicates
    assert unmarked == parked  # claims, releases and markers are all markers to such a reader
    assert any(k == "skybridge-dlq-claimed" for r in records for k, _ in r.headers)


def test_a_replay_owning_some_partitions_still_sees_the_markers_on_partition_0(
    tmp_path: Path,
) -> None:
    backend = connect(f"sqlite:///{tmp_path}/log.db?session_timeout=2")
    topic = unique("orders")
    backend.create_topic(topic, 1)
    letters = DeadLetters(backend, topic)
    backend.create_topic(letters.name, 2)
    for i in range(4):
        parked = letter_message(Record(topic, 0, i, b"k", b"v%d" % i), "ValueError", "bad", "p")
        backend.produce(letters.name, [Message(parked.value, parked.key, parked.headers, i % 2)])
    assert len(letters.replay()) == 4
    replayed: dict[str, list[str]] = {}
    with backend.consumer(REPLAY_GROUP, [letters.name]) as held:  # another replay, going on
        held.wait_for_assignment(timeout=10)
        second = threading.Thread(
            target=lambda: replayed.setdefault("ids", [d.id for d in letters.replay()])
        )
        second.start()
        deadline = time.monotonic() + 30
        while len(held.assignment()) > 1 and time.monotonic() < deadline:
            held.poll(timeout=0.2)  # hands a partition over to the second replay
        second.join(30)
    assert replayed == {"ids": []}  # none again, whichever partitions it owned
    assert sum(backend.end_offsets(topic).values()) == 4
    backend.close()

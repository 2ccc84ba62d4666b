"""Listing dead letters reads the dead-letter topic up to its end offsets, joining no group:
at once on every backend (a Kafka group join takes seconds), empty or missing topics too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.backends.streams import Record, StreamBackend, connect
from skybridge.runtime.deadletter import REPLAY_GROUP, DeadLetters, letter_message
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

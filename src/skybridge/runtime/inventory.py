"""What a stream backend holds, as people look at it: topics with their partitions and end
offsets, consumer groups with their lag per topic, and the dead letters parked on each
``<topic>.dlq`` topic.

Reading dead letters consumes each dead-letter topic once (from the start, committing nothing),
so an inventory costs a read of every dead-letter topic; reading lag on Kinesis scans shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skybridge.backends.streams.base import StreamBackend
from skybridge.backends.streams.records import PartitionLag
from skybridge.core.errors import NotFound
from skybridge.runtime.deadletter import DLQ_SUFFIX, DeadLetter, DeadLetters


@dataclass(frozen=True)
class TopicState:
    """One topic: partitions, the next offset of each, and records still retained."""

    name: str
    partitions: int
    end_offsets: dict[int, int]
    retained: int

    @property
    def dead_letter_topic(self) -> bool:
        return self.name.endswith(DLQ_SUFFIX)


@dataclass(frozen=True)
class GroupLag:
    """How far consumer group ``group`` is behind on ``topic``."""

    group: str
    topic: str
    partitions: dict[int, PartitionLag]

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions.values())


@dataclass(frozen=True)
class TopicLetters:
    """The dead letters of ``topic`` (parked on ``<topic>.dlq``), oldest first."""

    topic: str
    letters: list[DeadLetter]

    @property
    def waiting(self) -> int:
        """Letters not replayed yet."""
        return sum(not letter.replayed for letter in self.letters)


@dataclass(frozen=True)
class StreamsInventory:
    topics: list[TopicState] = field(default_factory=list)
    groups: list[GroupLag] = field(default_factory=list)
    dead_letters: list[TopicLetters] = field(default_factory=list)


def topic_state(backend: StreamBackend, name: str) -> TopicState:
    """Partitions, end offsets and retained records of topic ``name``."""
    ends = backend.end_offsets(name)
    starts = backend.start_offsets(name)
    retained = sum(max(end - starts.get(p, 0), 0) for p, end in ends.items())
    return TopicState(name, backend.describe(name).partitions, dict(sorted(ends.items())), retained)


def group_lags(backend: StreamBackend) -> list[GroupLag]:
    """Every group that committed, with its lag on each topic it committed on."""
    return [
        GroupLag(group, topic, backend.lag(group, topic))
        for group, topics in backend.groups().items()
        for topic in topics
    ]


def dead_letters(backend: StreamBackend, topics: list[str]) -> list[TopicLetters]:
    """The letters of each topic among ``topics`` that has a dead-letter topic."""
    found = []
    for name in topics:
        if name.endswith(DLQ_SUFFIX):
            source = name.removesuffix(DLQ_SUFFIX)
            found.append(TopicLetters(source, DeadLetters(backend, source).letters()))
    return found


def inventory(backend: StreamBackend) -> StreamsInventory:
    """Topics, groups and dead letters of ``backend`` now; a topic deleted meanwhile is
    left out."""
    names = backend.topics()
    topics = []
    for name in names:
        try:
            topics.append(topic_state(backend, name))
        except NotFound:
            continue
    return StreamsInventory(topics, group_lags(backend), dead_letters(backend, names))

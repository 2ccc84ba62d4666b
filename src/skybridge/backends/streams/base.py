"""The stream contract: partitioned topics, keyed produce, consumer groups with explicit commits.

An implementation writes the primitives (``create_topic``, ``describe``, ``topics``,
``_produce``, ``consumer``, ``read_to_end``, ``end_offsets``, ``committed``, ``groups``) and a
:class:`Consumer`;
:class:`StreamBackend` derives the rest: message normalisation and validation, ``produce_one``,
lag per partition and in total, and metrics.

Semantics every implementation honours (the contract suite checks them):

* A message with a key goes to a partition chosen by the key alone, so one key's records stay
  in order. The SQLite log and Kafka use Kafka's murmur2 partitioner; Kinesis hashes with MD5.
* Delivery is at-least-once: nothing is committed unless :meth:`Consumer.commit` is called. A
  new member of the group starts at the committed position; uncommitted records are delivered
  again.
* Members of one group divide the partitions of their topics; each partition has at most one
  owner at a time. Assignment changes when members join, leave or stop heartbeating, and shows
  in :meth:`Consumer.assignment` and the ``on_assign`` / ``on_revoke`` callbacks.
* Offsets are ints that grow within a partition (see :mod:`.records`); positions are "next
  offset to read".
* :meth:`StreamBackend.read_to_end` reads partitions directly, outside any group: it stops at
  the end offsets that existed when it began, and an empty or missing topic answers at once.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import ClassVar, Literal, Self

from skybridge.backends.streams.records import (
    Headers,
    Message,
    PartitionLag,
    Produced,
    Record,
    Retention,
    TopicInfo,
    TopicPartition,
    as_message,
    next_positions,
    validate_headers,
)
from skybridge.core.backend import Backend
from skybridge.core.errors import ValidationError
from skybridge.core.observability import BACKEND_CALLS, BACKEND_LATENCY

#: Called with the partitions a member gained (``on_assign``) or lost (``on_revoke``).
RebalanceCallback = Callable[[set[TopicPartition]], None]
#: Where a group starts reading a partition it has never committed.
StartPosition = Literal["earliest", "latest"]
#: The most partitions skybridge asks for in one topic: more than a Kafka cluster, a Kinesis
#: account (its shard quota) or OCI Streaming grants a topic in practice. ``stream create``
#: takes no more, and the embedded log (a row each up front, every one looked at by a
#: consumer) refuses more.
MAX_PARTITIONS = 10_000


class Consumer(ABC):
    """One member of a consumer group. Not thread-safe: use one per thread or process."""

    group: str
    topics: tuple[str, ...]

    @abstractmethod
    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """Return up to ``max_records`` records from owned partitions, waiting up to ``timeout``
        seconds for the first one. Also heartbeats and takes part in rebalancing.

        A record is returned by exactly one poll: a poll that fails after it read records from
        some partitions returns them, and the next poll raises its error. A failed poll
        moves no position, so polling again reads on from where the last returned records
        end.
        """

    @abstractmethod
    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        """Store positions (next offset to read) for the group.

        ``None`` commits the positions after every record :meth:`poll` returned. Raises
        ``Conflict`` for a partition this member no longer owns.
        """

    @abstractmethod
    def seek(self, partition: TopicPartition, offset: int) -> None:
        """Make the next :meth:`poll` read ``partition`` from ``offset`` (must be owned)."""

    @abstractmethod
    def position(self, partition: TopicPartition) -> int | None:
        """The next offset :meth:`poll` reads from ``partition``; None when not yet known."""

    @abstractmethod
    def assignment(self) -> set[TopicPartition]:
        """The partitions this member owns right now."""

    @abstractmethod
    def close(self) -> None:
        """Leave the group (its partitions go to the other members). Does not commit."""

    def commit_records(self, records: Iterable[Record]) -> None:
        """Commit the positions after ``records`` (highest offset + 1 per partition)."""
        positions = next_positions(records)
        if positions:
            self.commit(positions)

    def iterate(self, *, idle_timeout: float = 1.0, max_records: int = 500) -> Iterator[Record]:
        """Yield records until no record arrives for ``idle_timeout`` seconds."""
        while True:
            batch = self.poll(max_records, idle_timeout)
            if not batch:
                return
            yield from batch

    def wait_for_assignment(self, timeout: float = 30.0) -> set[TopicPartition]:
        """Poll (without consuming, records are re-read later) until something is owned."""
        deadline = time.monotonic() + timeout
        while not self.assignment() and time.monotonic() < deadline:
            self._idle_poll()
        return self.assignment()

    def _idle_poll(self) -> None:
        for record in self.poll(1, 0.2):
            self.seek(record.topic_partition, record.offset)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StreamBackend(Backend):
    """Partitioned, replayable topics with consumer groups."""

    #: URL scheme, for metrics labels.
    scheme: ClassVar[str] = "streams"
    #: Retention dimensions this backend enforces (fields of :class:`Retention`).
    retention_fields: ClassVar[frozenset[str]] = frozenset({"max_age"})

    # -- primitives -----------------------------------------------------------------------

    @abstractmethod
    def create_topic(
        self, name: str, partitions: int = 1, retention: Retention | None = None
    ) -> TopicInfo:
        """Create ``name`` unless it exists (idempotent); return what exists."""

    @abstractmethod
    def describe(self, topic: str) -> TopicInfo:
        """Partitions and retention of ``topic``; ``NotFound`` if it does not exist."""

    @abstractmethod
    def topics(self) -> list[str]:
        """The name of every topic, sorted (the engine's internal topics left out)."""

    @abstractmethod
    def _produce(self, topic: str, messages: Sequence[Message]) -> list[Produced]:
        """Append validated messages; return where each landed, in input order."""

    @abstractmethod
    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        start: StartPosition = "earliest",
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> Consumer:
        """Join ``group`` as a new member reading ``topics``."""

    @abstractmethod
    def read_to_end(self, topic: str, offsets: Mapping[int, int] | None = None) -> list[Record]:
        """Every record of ``topic`` from ``offsets`` up to the end offsets of when the call
        began, ordered by partition then offset, read without joining a consumer group (no
        group, member, assignment, position or commit is touched or made).

        ``offsets`` maps the partitions to read to the offset to start at (default: every
        partition, from its start offset); an offset below a partition's start offset reads
        from the start, and one at or past its end reads nothing. A partition's records are
        one gapless run from its first offset read to at least its end offset: records
        appended while the call runs may be included too (Kafka hands out whole fetched
        batches), and are never waited for. An empty partition is not waited on.

        Raises:
            NotFound: ``topic`` does not exist.
            ValidationError: ``offsets`` names a partition ``topic`` does not have.
        """

    @abstractmethod
    def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition: the offset the next produced record will get."""

    @abstractmethod
    def start_offsets(self, topic: str) -> dict[int, int]:
        """Per partition: the oldest offset still retained."""

    @abstractmethod
    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        """Per partition: the group's committed position (None if never committed)."""

    @abstractmethod
    def groups(self) -> dict[str, list[str]]:
        """Every consumer group that has committed a position: the topics it committed on, sorted.

        A group that only ever read (never committed) is not listed.
        """

    # -- derived ----------------------------------------------------------------------------

    def produce(self, topic: str, messages: Iterable[Message | bytes]) -> list[Produced]:
        """Append ``messages`` (``bytes`` or :class:`Message`) to ``topic`` in one batch."""
        batch = [m if type(m) is Message else as_message(m) for m in messages]
        for message in batch:
            if message.headers:
                validate_headers(message.headers)
            key = message.key
            if key is not None and type(key) is not bytes and not isinstance(key, bytes):
                raise ValidationError("message keys must be bytes or None")
        if not batch:
            return []
        with self._measure("produce"):
            return self._produce(topic, batch)

    def produce_one(
        self, topic: str, value: bytes, *, key: bytes | None = None, headers: Headers = ()
    ) -> Produced:
        """Append one record."""
        return self.produce(topic, [Message(value, key, headers)])[0]

    def lag(self, group: str, topic: str) -> dict[int, PartitionLag]:
        """Per partition: committed position, end offset and records not yet committed."""
        ends = self.end_offsets(topic)
        starts = self.start_offsets(topic)
        done = self.committed(group, topic)
        result: dict[int, PartitionLag] = {}
        for partition, end in ends.items():
            committed = done.get(partition)
            behind = end - max(committed if committed is not None else 0, starts[partition])
            result[partition] = PartitionLag(committed, end, max(behind, 0))
        return result

    def total_lag(self, group: str, topic: str) -> int:
        """Records of ``topic`` the group has not committed, over all partitions."""
        return sum(p.lag for p in self.lag(group, topic).values())

    def check_retention(self, retention: Retention | None) -> Retention:
        retention = retention or Retention()
        for name in ("max_age", "max_records", "max_bytes"):
            if getattr(retention, name) is not None and name not in self.retention_fields:
                supported = ", ".join(sorted(self.retention_fields))
                raise ValidationError(
                    f"{self.scheme}:// topics cannot limit retention by {name} "
                    f"(supported: {supported})"
                )
        return retention

    def _measure(self, operation: str) -> _Measured:
        return _Measured(self.scheme, operation)


def read_plan(
    topic: str, partitions: Iterable[int], offsets: Mapping[int, int] | None
) -> dict[int, int | None]:
    """For :meth:`StreamBackend.read_to_end`: per partition to read, in order, the offset it
    asks to start at (``None``: the partition's start).

    Raises:
        ValidationError: ``offsets`` names a partition not among ``partitions``.
    """
    known = sorted(set(partitions))
    if offsets is None:
        return dict.fromkeys(known)
    unknown = set(offsets) - set(known)
    if unknown:
        raise ValidationError(f"topic '{topic}' has no partition {sorted(unknown)}")
    return {p: int(offsets[p]) for p in sorted(offsets)}


class _Measured:
    """Count and time one backend call for the family metrics."""

    def __init__(self, scheme: str, operation: str) -> None:
        self.labels = ("streams", scheme, operation)
        self.started = 0.0

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        BACKEND_LATENCY.labels(*self.labels).observe(time.perf_counter() - self.started)
        BACKEND_CALLS.labels(*self.labels, "error" if exc_type else "ok").inc()

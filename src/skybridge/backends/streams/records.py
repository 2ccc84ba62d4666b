"""Value types of the streams family: messages going in, records coming out, offsets, lag.

Offsets are Python ``int`` on every backend. They grow within a partition but need not be
contiguous: Kafka and the SQLite log count 0, 1, 2...; Kinesis sequence numbers (decimal strings
of up to 128 bits) are parsed into ints. A *position* follows Kafka's convention: it is the offset
of the next record to read, so committing ``record.offset + 1`` marks ``record`` as done.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from skybridge.core.errors import ValidationError

#: Record headers: ordered (name, value) pairs; a name may repeat.
Headers = Sequence[tuple[str, bytes]]


class TopicPartition(NamedTuple):
    """One partition (a Kinesis shard) of a topic (a Kinesis stream)."""

    topic: str
    partition: int


@dataclass(frozen=True)
class Message:
    """A record to produce. ``partition`` overrides the key's partition; ``timestamp`` is
    event time in seconds since the epoch (defaults to the produce time)."""

    value: bytes
    key: bytes | None = None
    headers: Headers = ()
    partition: int | None = None
    timestamp: float | None = None


class Record(NamedTuple):
    """A consumed record. ``timestamp`` is seconds since the epoch.

    A named tuple (immutable, attribute access, no per-field ``__setattr__``): consumers build
    one per message on the pipeline hot path, about four times faster than a frozen dataclass.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()
    timestamp: float = 0.0

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


class Produced(NamedTuple):
    """Where a produced message landed (a named tuple: one is built per produced message)."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Retention:
    """How long a topic keeps records. ``None`` means unlimited for that dimension.

    Backends support different dimensions (``max_age`` everywhere; ``max_records`` on the SQLite
    log; ``max_bytes`` per partition on Kafka) and reject the others with ``ValidationError``.
    """

    max_age: float | None = None
    max_records: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    retention: Retention = field(default_factory=Retention)


@dataclass(frozen=True)
class PartitionLag:
    """``committed`` is the group's position (None: never committed); ``end`` the next offset
    to be written; ``lag`` the number of records between them."""

    committed: int | None
    end: int
    lag: int


def next_positions(records: Iterable[Record]) -> dict[TopicPartition, int]:
    """The positions to commit after processing ``records`` (highest offset + 1 per partition)."""
    top: dict[tuple[str, int], int] = {}  # plain tuples: no object per record
    for record in records:
        key = (record.topic, record.partition)
        if record.offset >= top.get(key, -1):
            top[key] = record.offset
    return {TopicPartition(t, p): offset + 1 for (t, p), offset in top.items()}


def as_message(value: Message | bytes) -> Message:
    if isinstance(value, Message):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return Message(bytes(value))
    raise ValidationError(f"cannot produce a {type(value).__name__}: give bytes or a Message")


def validate_headers(headers: Headers) -> None:
    for name, value in headers:
        if not isinstance(name, str) or not isinstance(value, bytes | bytearray):
            raise ValidationError("headers must be (str, bytes) pairs")


_HEADER = struct.Struct(">HI")


def encode_headers(headers: Headers) -> bytes:
    """A compact binary form for backends that store headers as one blob."""
    parts: list[bytes] = []
    for name, value in headers:
        raw = name.encode()
        parts.append(_HEADER.pack(len(raw), len(value)) + raw + bytes(value))
    return b"".join(parts)


def decode_headers(blob: bytes | None) -> list[tuple[str, bytes]]:
    if not blob:
        return []
    headers: list[tuple[str, bytes]] = []
    pos = 0
    while pos < len(blob):
        name_len, value_len = _HEADER.unpack_from(blob, pos)
        pos += _HEADER.size
        name = blob[pos : pos + name_len].decode()
        pos += name_len
        headers.append((name, blob[pos : pos + value_len]))
        pos += value_len
    return headers


def positions_by_topic(positions: Mapping[TopicPartition, int]) -> dict[str, dict[int, int]]:
    by_topic: dict[str, dict[int, int]] = {}
    for tp, offset in positions.items():
        by_topic.setdefault(tp.topic, {})[tp.partition] = offset
    return by_topic


def read_in_turn(
    partitions: Sequence[TopicPartition],
    max_records: int,
    read: Callable[[TopicPartition, int], list[Record]],
) -> tuple[list[Record], Exception | None]:
    """Up to ``max_records`` records of ``partitions``, read in this order (``read(tp,
    limit)``). A read that fails after others returned records ends the round: those records
    come back with its error, for the consumer to raise at its next poll; one failing before
    any record was read is raised at once."""
    records: list[Record] = []
    for tp in partitions:
        if len(records) >= max_records:
            break
        try:
            records.extend(read(tp, max_records - len(records)))
        except Exception as exc:
            if not records:
                raise
            return records, exc
    return records, None

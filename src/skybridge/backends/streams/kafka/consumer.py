"""A Kafka consumer-group member: manual commits, rebalance callbacks, seek.

librdkafka hands out error events among the messages of a batch (a subscribed topic missing, a
partition's fetch failing) and its position has moved past every message of the batch, so
:meth:`KafkaConsumer.poll` returns every record of the batch and raises the batch's first error
on the next poll (at once when the batch held no record).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer as RdConsumer
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import TopicPartition as RdTopicPartition

from skybridge.backends.streams.base import Consumer, RebalanceCallback
from skybridge.backends.streams.kafka.errors import translate_error
from skybridge.backends.streams.records import Record, TopicPartition
from skybridge.core.errors import Conflict, ValidationError


class KafkaConsumer(Consumer):
    def __init__(
        self,
        config: dict[str, Any],
        group: str,
        topics: Sequence[str],
        *,
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
    ) -> None:
        if not topics:
            raise ValidationError("a consumer needs at least one topic")
        self.group = group
        self.topics = tuple(topics)
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._owned: set[TopicPartition] = set()
        self._positions: dict[TopicPartition, int] = {}
        self._consumed: dict[TopicPartition, int] = {}
        # The error event of the last poll's batch, which also held records: raised next poll.
        self._failed: KafkaError | None = None
        self._client = RdConsumer(config)
        self._client.subscribe(
            list(self.topics),
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._revoked,
        )

    def _assigned(self, _client: Any, partitions: list[RdTopicPartition]) -> None:
        gained = {TopicPartition(p.topic, p.partition) for p in partitions}
        self._owned |= gained
        if gained and self._on_assign is not None:
            self._on_assign(gained)

    def _revoked(self, _client: Any, partitions: list[RdTopicPartition]) -> None:
        lost = {TopicPartition(p.topic, p.partition) for p in partitions}
        if lost and self._on_revoke is not None:
            self._on_revoke(lost)
        self._owned -= lost
        for tp in lost:
            self._positions.pop(tp, None)
            self._consumed.pop(tp, None)

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """See :meth:`Consumer.poll`. Raises first the error event of the previous poll's batch
        (its records were returned)."""
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise translate_error(failed, "poll")
        try:
            messages = fetch(self._client, max_records, timeout)
        except KafkaException as exc:
            raise translate_error(exc, "poll") from None
        records, last, _, error = decode_batch(messages)
        for (topic, partition), offset in last.items():
            tp = TopicPartition(topic, partition)
            self._positions[tp] = self._consumed[tp] = offset + 1
        if error is not None:
            if not records:
                raise translate_error(error, "poll")
            self._failed = error
        return records

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        offsets = dict(self._consumed) if offsets is None else dict(offsets)
        if not offsets:
            return
        stray = set(offsets) - self._owned
        if stray:
            raise Conflict(
                f"cannot commit {sorted(stray)}: this member of group '{self.group}' does not "
                "own them (rebalanced); their records will be redelivered"
            )
        try:
            self._client.commit(
                offsets=[RdTopicPartition(tp.topic, tp.partition, o) for tp, o in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            raise translate_error(exc, "commit") from None

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self._owned:
            raise Conflict(f"cannot seek {partition}: not assigned to this member")
        try:
            self._client.seek(RdTopicPartition(partition.topic, partition.partition, offset))
        except KafkaException as exc:
            raise translate_error(exc, "seek") from None
        self._positions[partition] = offset

    def position(self, partition: TopicPartition) -> int | None:
        if partition not in self._owned:
            return None
        known = self._positions.get(partition)
        if known is not None:
            return known
        try:
            (found,) = self._client.position([RdTopicPartition(*partition)])
        except KafkaException as exc:
            raise translate_error(exc, "position") from None
        return int(found.offset) if found.offset >= 0 else None

    def assignment(self) -> set[TopicPartition]:
        return set(self._owned)

    def close(self) -> None:
        with contextlib.suppress(KafkaException, RuntimeError):  # already closed
            self._client.close()
        self._owned = set()


#: ``Record(...)`` without the Python-level ``__new__`` of a named tuple (hot path).
_new_record = tuple.__new__
#: Per (topic, partition): the last offset among a batch's records.
LastOffsets = dict[tuple[str, int], int]
#: Partition-EOF events: (topic, partition, offset reached).
Eofs = list[tuple[str, int, int]]


def fetch(client: RdConsumer, max_records: int, timeout: float) -> list[Any]:
    """What the local queue holds now (up to ``max_records``), else wait up to ``timeout``
    for the first message and take what arrived with it.

    ``consume(n, timeout)`` alone blocks until ``n`` messages or the timeout, so a slow
    stream would wait the whole timeout on every poll.
    """
    messages = client.consume(max_records, 0)
    if messages or timeout <= 0:
        return messages
    first = client.poll(timeout)
    if first is None:
        return []
    if max_records == 1:
        return [first]
    return [first, *client.consume(max_records - 1, 0)]


def decode(messages: list[Any], operation: str) -> tuple[list[Record], LastOffsets, Eofs]:
    """:func:`decode_batch`, raising the batch's first error event instead of returning it."""
    records, last, eofs, error = decode_batch(messages)
    if error is not None:
        raise translate_error(error, operation)
    return records, last, eofs


def decode_batch(messages: list[Any]) -> tuple[list[Record], LastOffsets, Eofs, KafkaError | None]:
    """The records among ``messages``; per (topic, partition) the last offset among them; the
    partition-EOF events (topic, partition, offset reached), which only a client with
    ``enable.partition.eof`` gets; and the first other error event (None if none)."""
    records: list[Record] = []
    append = records.append
    last: LastOffsets = {}
    eofs: Eofs = []
    error: KafkaError | None = None
    for msg in messages:
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                eofs.append((msg.topic(), msg.partition(), msg.offset()))
            elif error is None:
                error = err
            continue
        topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
        key, value, headers = msg.key(), msg.value(), msg.headers()
        if type(value) is not bytes or (key is not None and type(key) is not bytes):
            key, value = _as_bytes(key), _as_bytes(value) or b""
        fields = (
            topic,
            partition,
            offset,
            key,
            value,
            _headers(headers) if headers else (),
            msg.timestamp()[1] / 1000,
        )
        append(_new_record(Record, fields))
        last[topic, partition] = offset
    return records, last, eofs, error


def _as_bytes(raw: object) -> bytes | None:
    if raw is None or isinstance(raw, bytes):
        return raw
    return str(raw).encode()


def _headers(raw: Any) -> list[tuple[str, bytes]]:
    pairs = list(raw.items()) if isinstance(raw, dict) else raw
    return [(str(k), v if isinstance(v, bytes) else (v or "").encode()) for k, v in pairs]

"""A Kafka consumer-group member: manual commits, rebalance callbacks, seek."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer as RdConsumer
from confluent_kafka import KafkaError, KafkaException, Message
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
        try:
            messages = self._client.consume(max_records, timeout)
        except KafkaException as exc:
            raise translate_error(exc, "poll") from None
        records: list[Record] = []
        last: dict[tuple[str, int], int] = {}
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                raise translate_error(err, "poll")
            record = _record(msg)
            records.append(record)
            last[record.topic, record.partition] = record.offset
        for (topic, partition), offset in last.items():
            tp = TopicPartition(topic, partition)
            self._positions[tp] = self._consumed[tp] = offset + 1
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


def _record(msg: Message) -> Record:
    raw = msg.headers()
    headers: list[tuple[str, bytes]] = []
    if raw:
        pairs = list(raw.items()) if isinstance(raw, dict) else raw
        headers = [(str(k), v if isinstance(v, bytes) else (v or "").encode()) for k, v in pairs]
    value = msg.value() or b""
    key = msg.key()
    return Record(
        str(msg.topic()),
        msg.partition() or 0,
        msg.offset() or 0,
        key if isinstance(key, bytes) or key is None else str(key).encode(),
        value if isinstance(value, bytes) else str(value).encode(),
        headers,
        msg.timestamp()[1] / 1000,
    )

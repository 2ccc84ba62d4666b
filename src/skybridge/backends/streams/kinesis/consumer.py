"""A Kinesis consumer-group member: shard leases and checkpoints in a kv backend."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from skybridge.backends.streams.base import Consumer, RebalanceCallback, StartPosition
from skybridge.backends.streams.kinesis.envelope import record_key, unwrap
from skybridge.backends.streams.kinesis.leases import KvLeases
from skybridge.backends.streams.leases import GroupMembership
from skybridge.backends.streams.records import Record, TopicPartition
from skybridge.core.errors import Conflict, ValidationError

if TYPE_CHECKING:
    from skybridge.backends.streams.kinesis.stream import KinesisStream


class KinesisConsumer(Consumer):
    def __init__(
        self,
        stream: KinesisStream,
        leases: KvLeases,
        group: str,
        topics: Sequence[str],
        *,
        start: StartPosition,
        on_assign: RebalanceCallback | None,
        on_revoke: RebalanceCallback | None,
    ) -> None:
        if not topics:
            raise ValidationError("a consumer needs at least one topic")
        self.stream = stream
        self.leases = leases
        self.group = group
        self.topics = tuple(topics)
        self.start = start
        self._iterators: dict[TopicPartition, str | None] = {}
        self._positions: dict[TopicPartition, int] = {}
        self._consumed: dict[TopicPartition, int] = {}
        self.membership = GroupMembership(
            leases,
            group,
            self.topics,
            lambda: {t: stream.describe(t).partitions for t in self.topics},
            session_timeout=stream.session_timeout,
            heartbeat_interval=stream.heartbeat_interval,
            on_assign=on_assign,
            on_revoke=on_revoke,
        )
        self._rebalance(*self.membership.heartbeat())

    def _rebalance(self, gained: set[TopicPartition], lost: set[TopicPartition]) -> None:
        for tp in lost | gained:
            self._iterators.pop(tp, None)
            self._positions.pop(tp, None)
            self._consumed.pop(tp, None)

    def _iterator(self, tp: TopicPartition) -> str | None:
        if tp in self._iterators:
            return self._iterators[tp]
        name = self.stream.stream_name(tp.topic)
        shards = self.stream.shards
        committed = self.leases.committed(self.group, tp)
        if committed is not None:
            it = shards.iterator(name, tp.partition, "AFTER_SEQUENCE_NUMBER", committed - 1)
        else:
            kind = "TRIM_HORIZON" if self.start == "earliest" else "LATEST"
            it = shards.iterator(name, tp.partition, kind)
        self._iterators[tp] = it
        return it

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        deadline = time.monotonic() + timeout
        while True:
            self._rebalance(*self.membership.maybe_heartbeat())
            records: list[Record] = []
            for tp in sorted(self.membership.owned):
                if len(records) >= max_records:
                    break
                records.extend(self._read(tp, max_records - len(records)))
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(min(self.stream.poll_interval, max(deadline - time.monotonic(), 0)))

    def _read(self, tp: TopicPartition, limit: int) -> list[Record]:
        it = self._iterator(tp)
        if it is None:
            return []  # shard closed (resharded) and fully read
        raw, self._iterators[tp], _ = self.stream.shards.read(it, limit)
        records = []
        for item in raw:
            value, headers = unwrap(item["Data"])
            offset = int(item["SequenceNumber"])
            stamp = item.get("ApproximateArrivalTimestamp")
            records.append(
                Record(
                    tp.topic,
                    tp.partition,
                    offset,
                    record_key(item["PartitionKey"]),
                    value,
                    headers,
                    stamp.timestamp() if stamp is not None else time.time(),
                )
            )
        if records:
            self._positions[tp] = self._consumed[tp] = records[-1].offset + 1
        return records

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        offsets = dict(self._consumed) if offsets is None else dict(offsets)
        if not offsets:
            return
        now = time.time()
        if not set(offsets) <= self.membership.owned or not self.leases.holds(
            self.group, self.membership.member, set(offsets), now
        ):
            raise Conflict(
                f"cannot commit {sorted(offsets)}: this member of group '{self.group}' no "
                "longer owns all of them (rebalanced); their records will be redelivered"
            )
        self.leases.commit(self.group, offsets)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self.membership.owned:
            raise Conflict(f"cannot seek {partition}: not assigned to this member")
        name = self.stream.stream_name(partition.topic)
        self._iterators[partition] = self.stream.shards.iterator(
            name, partition.partition, "AT_SEQUENCE_NUMBER", offset
        )
        self._positions[partition] = offset

    def position(self, partition: TopicPartition) -> int | None:
        if partition not in self.membership.owned:
            return None
        known = self._positions.get(partition)
        if known is None:
            known = self.leases.committed(self.group, partition)
        return known

    def assignment(self) -> set[TopicPartition]:
        self._rebalance(*self.membership.maybe_heartbeat())
        return set(self.membership.owned)

    def close(self) -> None:
        self.membership.leave()

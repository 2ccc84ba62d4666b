"""A Kinesis consumer-group member: shard leases and checkpoints in a kv backend.

Partitions are shard numbers. A member reads the shards the group may read now (see
:func:`~.shards.readable_shards`); when a closed shard ends it is marked finished once its last
record is committed, and the next heartbeat hands out its children.

**Nothing read is lost.** A shard's iterator and position move only with a page that
:meth:`~KinesisConsumer.poll` returns. When reading a later shard fails (throttling is common at
five reads per second and shard), the poll returns the records already read and the next poll
raises the error; reaching a shard's end does no I/O (the shard is finished by the commit that
covers its last record, or by the next poll). An iterator that expired between polls is replaced
by one at the shard's position, and the read tried once more.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from skybridge.backends.streams.base import Consumer, RebalanceCallback, StartPosition
from skybridge.backends.streams.kinesis.envelope import record_key, unwrap
from skybridge.backends.streams.kinesis.errors import ExpiredIterator
from skybridge.backends.streams.kinesis.leases import SHARD_END, SKIPPED, KvLeases
from skybridge.backends.streams.kinesis.shards import Shard, readable_shards
from skybridge.backends.streams.leases import GroupMembership, KeepAlive
from skybridge.backends.streams.records import Record, TopicPartition, read_in_turn
from skybridge.core.errors import Conflict, ValidationError

if TYPE_CHECKING:
    from skybridge.backends.streams.kinesis.stream import KinesisStream


def as_record(tp: TopicPartition, item: Mapping[str, Any]) -> Record:
    """The record of one GetRecords item read from shard ``tp``."""
    value, headers = unwrap(item["Data"])
    stamp = item.get("ApproximateArrivalTimestamp")
    return Record(
        tp.topic,
        tp.partition,
        int(item["SequenceNumber"]),
        record_key(item["PartitionKey"]),
        value,
        headers,
        stamp.timestamp() if stamp is not None else time.time(),
    )


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
        # The group's committed positions as this member last read or wrote them.
        self._committed: dict[TopicPartition, int | None] = {}
        # Closed shards read to their end: the position that completes them once committed
        # (None: nothing read from them since they were assigned).
        self._ended: dict[TopicPartition, int | None] = {}
        # What stopped the last poll after it had read records: raised by the next poll.
        self._failed: Exception | None = None
        # Per topic, the finished shards the last heartbeat saw.
        self._finished_seen: dict[str, set[int]] = {}
        self.membership = GroupMembership(
            leases,
            group,
            self.topics,
            self._readable,
            session_timeout=stream.session_timeout,
            heartbeat_interval=stream.heartbeat_interval,
            on_assign=on_assign,
            on_revoke=on_revoke,
        )
        self._rebalance(*self.membership.heartbeat())
        # Renews the leases while a batch runs, up to max_poll_interval (see leases.KeepAlive).
        self.keepalive = KeepAlive(
            self.membership, leases.renew, max_poll_interval=stream.max_poll_interval
        )
        self.keepalive.start()

    def _readable(self) -> dict[str, set[int]]:
        """Per topic, the shards the group may read now (what the members divide).

        When another member finished a shard since the last look, the shard list is read
        again: its children must be in it, or members would divide different sets.
        """
        readable: dict[str, set[int]] = {}
        for topic in self.topics:
            name = self.stream.stream_name(topic)
            finished = self.leases.finished(self.group, topic)
            if finished.keys() != self._finished_seen.get(topic, finished.keys()):
                self.stream.shards.forget(name)
            self._finished_seen[topic] = set(finished)
            readable[topic] = readable_shards(self.stream.shards.shards(name), finished)
        return readable

    def _shard(self, tp: TopicPartition) -> Shard | None:
        return self.stream.shards.shard(self.stream.stream_name(tp.topic), tp.partition)

    def _rebalance(self, gained: set[TopicPartition], lost: set[TopicPartition]) -> None:
        for tp in lost | gained:
            self._iterators.pop(tp, None)
            self._positions.pop(tp, None)
            self._consumed.pop(tp, None)
            self._committed.pop(tp, None)
            self._ended.pop(tp, None)

    def _iterator(self, tp: TopicPartition) -> str | None:
        if tp in self._iterators:
            return self._iterators[tp]
        name = self.stream.stream_name(tp.topic)
        shards = self.stream.shards
        committed = self._committed[tp] = self.leases.committed(self.group, tp)
        shard = self._shard(tp)
        it: str | None
        if committed is not None:
            it = shards.iterator(name, tp.partition, "AFTER_SEQUENCE_NUMBER", committed - 1)
        elif self.start == "earliest" or self._parent_was_read(tp, shard):
            it = shards.iterator(name, tp.partition, "TRIM_HORIZON")
        elif shard is not None and shard.closed:
            # Begun at its tip by an earlier owner (nothing arrived to commit): done, and its
            # children follow it from their start. Never begun: history before the group.
            it = None
            self._finish(tp, SHARD_END if self.leases.started(self.group, tp) else SKIPPED)
        else:
            it = shards.iterator(name, tp.partition, "LATEST")
            self.leases.mark_started(self.group, tp)
        self._iterators[tp] = it
        return it

    def _parent_was_read(self, tp: TopicPartition, shard: Shard | None) -> bool:
        """A child of a shard the group read continues it, from its first record."""
        if shard is None or not shard.parents:
            return False
        finished = self.leases.finished(self.group, tp.topic)
        return any(finished.get(parent) == SHARD_END for parent in shard.parents)

    def _finish(self, tp: TopicPartition, how: bytes) -> None:
        self.leases.finish(self.group, tp, how)
        self.membership.request_heartbeat()

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        """See :meth:`Consumer.poll`. Raises first what stopped the previous poll after it had
        read records (those records were returned)."""
        deadline = time.monotonic() + timeout
        self.keepalive.polled()
        if self._failed is not None:
            failed, self._failed = self._failed, None
            raise failed
        while True:
            self.keepalive.polled()
            self._finish_ended()  # before the heartbeat, which then hands out their children
            self._rebalance(*self.membership.maybe_heartbeat())
            records = self._read_owned(max_records)
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(min(self.stream.poll_interval, max(deadline - time.monotonic(), 0)))

    def _read_owned(self, max_records: int) -> list[Record]:
        """Up to ``max_records`` records of the owned shards, in shard order. A failure after
        some were read ends the round: the records are returned, the error kept for the next
        poll."""
        records, self._failed = read_in_turn(sorted(self.membership.owned), max_records, self._read)
        return records

    def _read(self, tp: TopicPartition, limit: int) -> list[Record]:
        """One page of ``tp``; its iterator and position move only when the page is returned."""
        it = self._iterator(tp)
        if it is None:
            return []  # a closed shard read to its end
        try:
            raw, following, behind = self.stream.shards.read(it, limit)
        except ExpiredIterator:
            it = self._renewed_iterator(tp)
            if it is None:
                return []
            raw, following, behind = self.stream.shards.read(it, limit)
        records = [as_record(tp, item) for item in raw]
        self._iterators[tp] = following
        if records:
            self._positions[tp] = self._consumed[tp] = records[-1].offset + 1
        if following is None or (
            not raw
            and behind == 0
            and self.stream.empty_read_ends_closed_shard
            and self._closed(tp)
        ):
            self._reached_end(tp)
        return records

    def _renewed_iterator(self, tp: TopicPartition) -> str | None:
        """A new iterator for ``tp`` at its position: after the last record read or sought,
        else made as the first one was (after the checkpoint, at the shard's start, or at its
        tip for a group starting at "latest": records that arrived while that iterator lay
        expired, before any was read, are then not read)."""
        position = self._positions.get(tp)
        if position is None:
            self._iterators.pop(tp, None)
            return self._iterator(tp)
        name = self.stream.stream_name(tp.topic)
        it = self.stream.shards.iterator(name, tp.partition, "AFTER_SEQUENCE_NUMBER", position - 1)
        self._iterators[tp] = it
        return it

    def _closed(self, tp: TopicPartition) -> bool:
        """Whether the shard list shows ``tp`` closed (with ``empty_read_ends_closed_shard``, an
        empty read at its tip is then its end: for emulators that never end a closed shard)."""
        shard = self._shard(tp)
        return shard is not None and shard.closed

    def _reached_end(self, tp: TopicPartition) -> None:
        """Note, without I/O, that the closed shard ``tp`` was read to its end: the commit that
        covers its last record read finishes it, or the next poll if that is committed."""
        self._iterators[tp] = None
        self.stream.shards.forget(self.stream.stream_name(tp.topic))
        self._ended[tp] = self._consumed.get(tp)

    def _completes(self, tp: TopicPartition, position: int | None) -> bool:
        """Whether committing ``position`` completes ``tp``, a closed shard read to its end."""
        if tp not in self._ended:
            return False
        end = self._ended[tp]
        return end is None or (position is not None and position >= end)

    def _finish_ended(self) -> None:
        """Finish the shards read to their end whose every record read is committed."""
        for tp in list(self._ended):
            if tp not in self._committed:
                self._committed[tp] = self.leases.committed(self.group, tp)
            if self._completes(tp, self._committed[tp]):
                self._finish(tp, SHARD_END)
                del self._ended[tp]

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None:
        offsets = dict(self._consumed) if offsets is None else dict(offsets)
        if not offsets:
            return
        self.keepalive.polled()
        now = time.time()
        if not set(offsets) <= self.membership.owned or not self.leases.holds(
            self.group, self.membership.member, set(offsets), now
        ):
            # Read them again from the checkpoint if they stay (or come back) ours: a shard
            # whose end was reached must reach it again to be finished.
            self._rebalance(set(), set(offsets))
            raise Conflict(
                f"cannot commit {sorted(offsets)}: this member of group '{self.group}' no "
                "longer owns all of them (rebalanced); their records will be redelivered"
            )
        ends = {tp for tp, pos in offsets.items() if self._completes(tp, pos)}
        self.leases.commit(self.group, offsets, ends)
        self._committed.update(offsets)
        for tp in ends:
            del self._ended[tp]
        if ends:
            self.membership.request_heartbeat()

    def seek(self, partition: TopicPartition, offset: int) -> None:
        if partition not in self.membership.owned:
            raise Conflict(f"cannot seek {partition}: not assigned to this member")
        if partition.partition in self.leases.finished(self.group, partition.topic):
            raise Conflict(
                f"cannot seek {partition}: the group finished this closed shard and may be "
                "reading its children; reading it again would break per-key order"
            )
        name = self.stream.stream_name(partition.topic)
        self._iterators[partition] = self.stream.shards.iterator(
            name, partition.partition, "AT_SEQUENCE_NUMBER", offset
        )
        self._positions[partition] = offset
        self._ended.pop(partition, None)

    def position(self, partition: TopicPartition) -> int | None:
        if partition not in self.membership.owned:
            return None
        known = self._positions.get(partition)
        if known is None:
            known = self.leases.committed(self.group, partition)
        return known

    def assignment(self) -> set[TopicPartition]:
        self.keepalive.polled()
        self._rebalance(*self.membership.maybe_heartbeat())
        return set(self.membership.owned)

    def close(self) -> None:
        self.keepalive.stop()
        self.membership.leave()

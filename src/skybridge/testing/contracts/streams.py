"""Contract suite for the ``streams`` family.

A concrete test class subclasses :class:`StreamsContract` and provides a fixture ``streams``
returning a connected :class:`~skybridge.backends.streams.StreamBackend`. Every test creates its
own topics and groups (unique names), so one backend may serve the whole class::

    class TestSqlite(StreamsContract):
        @pytest.fixture
        def streams(self, tmp_path):
            return connect(f"sqlite:///{tmp_path}/log.db", session_timeout=2)

``join_timeout`` bounds how long a backend may take to settle a group (Kafka brokers delay joins).
``read_to_end`` joins no group, so it is held to ``at_once`` seconds whatever the backend.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

import pytest

from skybridge.backends.streams import (
    Consumer,
    Message,
    Record,
    StreamBackend,
    TopicPartition,
)
from skybridge.core.errors import Conflict, NotFound, ValidationError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def settle(consumers: Sequence[Consumer], partitions: int, timeout: float) -> None:
    """Poll ``consumers`` (on an empty topic) until they own disjoint sets covering all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        owned = [c.assignment() for c in consumers]
        if all(owned) and sum(len(o) for o in owned) == partitions == len(set().union(*owned)):
            return
        for consumer in consumers:
            assert consumer.poll(10, 0.1) == [], "settle() must run before producing"
    raise AssertionError(
        f"group did not settle in {timeout}s: {[c.assignment() for c in consumers]}"
    )


def drain(consumer: Consumer, count: int, timeout: float) -> list[Record]:
    """Poll until ``count`` records arrived (or ``timeout``)."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout
    while len(records) < count and time.monotonic() < deadline:
        records.extend(consumer.poll(500, 0.5))
    return records


class StreamsContract:
    """Behaviour every stream backend shares."""

    join_timeout: float = 20.0
    #: Longest a ``read_to_end`` of a few records (or none) may take: it joins no group.
    at_once: float = 2.0

    def topic(self, streams: StreamBackend, partitions: int = 1) -> str:
        name = unique("t")
        streams.create_topic(name, partitions)
        return name

    def test_create_topic_is_idempotent(self, streams: StreamBackend) -> None:
        name = unique("t")
        first = streams.create_topic(name, 3)
        again = streams.create_topic(name, 3)
        assert first.partitions == again.partitions == streams.describe(name).partitions == 3
        assert streams.end_offsets(name).keys() == {0, 1, 2}

    def test_describe_missing_topic_is_not_found(self, streams: StreamBackend) -> None:
        with pytest.raises(NotFound):
            streams.describe(unique("missing"))

    def test_topics_lists_every_topic(self, streams: StreamBackend) -> None:
        first, second = self.topic(streams), self.topic(streams, 2)
        listed = streams.topics()
        assert {first, second} <= set(listed)
        assert listed == sorted(listed)

    def test_groups_lists_groups_that_committed_with_their_topics(
        self, streams: StreamBackend
    ) -> None:
        topic, other = self.topic(streams), self.topic(streams)
        group, reader = unique("g"), unique("g")
        streams.produce(topic, [b"a", b"b"])
        streams.produce(other, [b"c"])
        with streams.consumer(group, [topic, other]) as consumer:
            consumer.commit_records(drain(consumer, 3, self.join_timeout))
        with streams.consumer(reader, [topic]) as consumer:
            assert len(drain(consumer, 2, self.join_timeout)) == 2  # read, never committed
        groups = streams.groups()
        assert groups[group] == sorted([topic, other])
        assert reader not in groups

    def test_round_trip_keeps_key_value_headers(self, streams: StreamBackend) -> None:
        topic = self.topic(streams, 2)
        headers = [("trace", b"abc"), ("trace", b"\x00\xff"), ("kind", b"")]
        sent = [Message(b"v%d" % i, key=b"k%d" % i, headers=headers) for i in range(6)]
        produced = streams.produce(topic, sent)
        assert len(produced) == 6
        with streams.consumer(unique("g"), [topic]) as consumer:
            got = drain(consumer, 6, self.join_timeout)
        assert sorted((r.key, r.value) for r in got) == sorted((m.key, m.value) for m in sent)
        assert all(list(r.headers) == headers for r in got)
        assert {(r.partition, r.offset) for r in got} == {(p.partition, p.offset) for p in produced}
        assert all(r.topic == topic and r.timestamp > 1_000_000_000 for r in got)

    def test_poll_hands_over_waiting_records_without_filling_the_batch(
        self, streams: StreamBackend
    ) -> None:
        """A poll waits for the first record, not for ``max_records`` (pipelines size their
        batches on this: see :func:`skybridge.runtime.runner.gather`)."""
        topic = self.topic(streams)
        with streams.consumer(unique("g"), [topic]) as consumer:
            assert consumer.wait_for_assignment(self.join_timeout)
            streams.produce(topic, [Message(b"%d" % i) for i in range(3)])
            got: list[Record] = []
            deadline = time.monotonic() + self.join_timeout
            while len(got) < 3 and time.monotonic() < deadline:
                started = time.monotonic()
                batch = consumer.poll(500, 10.0)
                assert not batch or time.monotonic() - started < 5.0, "poll waited to fill"
                got.extend(batch)
        assert sorted(r.value for r in got) == [b"0", b"1", b"2"]

    def test_keyless_value_round_trips(self, streams: StreamBackend) -> None:
        topic = self.topic(streams)
        streams.produce_one(topic, b"")
        streams.produce_one(topic, b"\x00" * 1000)
        with streams.consumer(unique("g"), [topic]) as consumer:
            got = drain(consumer, 2, self.join_timeout)
        assert [(r.key, r.value) for r in got] == [(None, b""), (None, b"\x00" * 1000)]

    def test_same_key_same_partition(self, streams: StreamBackend) -> None:
        topic = self.topic(streams, 4)
        keys = [b"user-%d" % (i % 12) for i in range(48)]
        produced = streams.produce(topic, [Message(b"x", key=k) for k in keys])
        where: dict[bytes, set[int]] = {}
        for key, p in zip(keys, produced, strict=True):
            where.setdefault(key, set()).add(p.partition)
        assert all(len(parts) == 1 for parts in where.values())
        assert len({p.partition for p in produced}) > 1, "12 keys should use several partitions"

    def test_order_within_a_partition(self, streams: StreamBackend) -> None:
        topic = self.topic(streams, 3)
        for batch in range(3):
            streams.produce(topic, [Message(b"%d" % (batch * 10 + i), key=b"k") for i in range(10)])
        with streams.consumer(unique("g"), [topic]) as consumer:
            got = drain(consumer, 30, self.join_timeout)
        assert [int(r.value) for r in got] == list(range(30))
        offsets = [r.offset for r in got]
        assert offsets == sorted(offsets)
        assert len(set(offsets)) == 30

    def test_commit_then_new_member_resumes_and_gets_uncommitted_again(
        self, streams: StreamBackend
    ) -> None:
        topic, group = self.topic(streams), unique("g")
        streams.produce(topic, [b"%d" % i for i in range(10)])
        with streams.consumer(group, [topic]) as first:
            got = drain(first, 10, self.join_timeout)
            first.commit_records(got[:4])
        with streams.consumer(group, [topic]) as second:
            again = drain(second, 6, self.join_timeout)
            assert second.poll(10, 0.5) == []
        assert [r.value for r in again] == [b"%d" % i for i in range(4, 10)]

    def test_commit_none_commits_everything_polled(self, streams: StreamBackend) -> None:
        topic, group = self.topic(streams), unique("g")
        streams.produce(topic, [b"a", b"b", b"c"])
        with streams.consumer(group, [topic]) as consumer:
            assert len(drain(consumer, 3, self.join_timeout)) == 3
            consumer.commit()
        assert streams.total_lag(group, topic) == 0

    def test_seek_rereads_from_offset(self, streams: StreamBackend) -> None:
        topic = self.topic(streams)
        produced = streams.produce(topic, [b"%d" % i for i in range(5)])
        with streams.consumer(unique("g"), [topic]) as consumer:
            assert len(drain(consumer, 5, self.join_timeout)) == 5
            tp = TopicPartition(topic, 0)
            consumer.seek(tp, produced[2].offset)
            assert [r.value for r in drain(consumer, 3, 10)] == [b"2", b"3", b"4"]
            assert consumer.position(tp) == produced[4].offset + 1

    def test_lag_counts_uncommitted_records(self, streams: StreamBackend) -> None:
        topic, group = self.topic(streams), unique("g")
        produced = streams.produce(topic, [b"%d" % i for i in range(10)])
        before = streams.lag(group, topic)[0]
        assert (before.committed, before.lag) == (None, 10)
        assert before.end == produced[-1].offset + 1
        with streams.consumer(group, [topic]) as consumer:
            got = drain(consumer, 10, self.join_timeout)
            consumer.commit_records(got[:4])
        after = streams.lag(group, topic)[0]
        assert (after.committed, after.lag) == (produced[3].offset + 1, 6)
        assert streams.total_lag(group, topic) == 6

    def test_commit_of_a_partition_not_owned_is_a_conflict(self, streams: StreamBackend) -> None:
        topic, other = self.topic(streams), self.topic(streams)
        with streams.consumer(unique("g"), [topic]) as consumer:
            consumer.wait_for_assignment(self.join_timeout)
            with pytest.raises(Conflict):
                consumer.commit({TopicPartition(other, 0): 1})

    def test_two_members_split_partitions_and_see_each_record_once(
        self, streams: StreamBackend
    ) -> None:
        topic, group = self.topic(streams, 4), unique("g")
        members = [streams.consumer(group, [topic]) for _ in range(2)]
        try:
            settle(members, 4, self.join_timeout)
            a, b = (m.assignment() for m in members)
            assert a.isdisjoint(b)
            assert len(a | b) == 4
            streams.produce(topic, [Message(b"%d" % i, key=b"k%d" % i) for i in range(200)])
            seen: list[list[Record]] = [[], []]
            deadline = time.monotonic() + self.join_timeout

            def run(i: int) -> None:
                while sum(map(len, seen)) < 200 and time.monotonic() < deadline:
                    seen[i].extend(members[i].poll(500, 0.2))

            threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            values = [r.value for r in seen[0] + seen[1]]
            assert sorted(values) == sorted(b"%d" % i for i in range(200))
            assert seen[0]
            assert seen[1]
            assert {r.topic_partition for r in seen[0]} <= a
        finally:
            for member in members:
                member.close()

    def test_rebalance_when_a_member_leaves(self, streams: StreamBackend) -> None:
        topic, group = self.topic(streams, 4), unique("g")
        assigned: list[set[TopicPartition]] = []
        stay = streams.consumer(group, [topic], on_assign=assigned.append)
        leave = streams.consumer(group, [topic])
        try:
            settle([stay, leave], 4, self.join_timeout)
            assert len(stay.assignment()) < 4
            leave.close()
            settle([stay], 4, self.join_timeout)
            everything = {TopicPartition(topic, p) for p in range(4)}
            assert stay.assignment() == everything
            assert set().union(*assigned) == everything
        finally:
            stay.close()

    def test_read_to_end_reads_every_partition_in_order(self, streams: StreamBackend) -> None:
        topic = self.topic(streams, 3)
        sent = [
            Message(b"v%d" % i, key=b"k%d" % (i % 7), headers=[("n", b"%d" % i)]) for i in range(30)
        ]
        produced = streams.produce(topic, sent)  # batches of several records
        started = time.monotonic()
        got = streams.read_to_end(topic)
        assert time.monotonic() - started < self.at_once
        where = {(p.partition, p.offset): m for p, m in zip(produced, sent, strict=True)}
        assert [(r.partition, r.offset) for r in got] == sorted(where)
        for record in got:
            message = where[record.partition, record.offset]
            assert record.topic == topic
            assert (record.key, record.value) == (message.key, message.value)
            assert list(record.headers) == list(message.headers)
            assert record.timestamp > 1_000_000_000

    def test_read_to_end_starts_at_the_given_offsets(self, streams: StreamBackend) -> None:
        topic = self.topic(streams, 2)
        # One record a batch: Tansu reports a high watermark short of a multi-record batch.
        produced = [streams.produce_one(topic, b"%d" % i, key=b"k") for i in range(5)]
        part = produced[0].partition
        assert {p.partition for p in produced} == {part}
        values = [r.value for r in streams.read_to_end(topic, {part: produced[2].offset})]
        assert values == [b"2", b"3", b"4"]
        everything = [b"%d" % i for i in range(5)]
        assert [r.value for r in streams.read_to_end(topic, {part: 0})] == everything  # < start
        assert streams.read_to_end(topic, {part: produced[-1].offset + 1}) == []
        assert streams.read_to_end(topic, {1 - part: 0}) == []  # empty partition, only it
        with pytest.raises(ValidationError):
            streams.read_to_end(topic, {part: 0, 7: 0})

    def test_read_to_end_of_an_empty_topic_answers_at_once(self, streams: StreamBackend) -> None:
        topic = self.topic(streams, 2)
        started = time.monotonic()
        assert streams.read_to_end(topic) == []
        assert time.monotonic() - started < self.at_once
        streams.produce_one(topic, b"later")
        assert [r.value for r in streams.read_to_end(topic)] == [b"later"]

    def test_read_to_end_of_a_missing_topic_is_not_found(self, streams: StreamBackend) -> None:
        with pytest.raises(NotFound):
            streams.read_to_end(unique("missing"))

    def test_read_to_end_leaves_groups_alone(self, streams: StreamBackend) -> None:
        """No group is joined or committed for: a member owning every partition keeps them
        and still gets every record; ``groups()`` shows nothing new."""
        topic, group = self.topic(streams, 2), unique("g")
        streams.produce(topic, [Message(b"%d" % i, key=b"k%d" % i) for i in range(6)])
        with streams.consumer(group, [topic]) as member:
            owned = member.wait_for_assignment(self.join_timeout)
            assert len(owned) == 2
            before = streams.groups()
            assert len(streams.read_to_end(topic)) == 6
            assert streams.groups() == before
            assert member.assignment() == owned
            assert len(drain(member, 6, self.join_timeout)) == 6
            assert member.assignment() == owned
        assert streams.committed(group, topic) == {0: None, 1: None}

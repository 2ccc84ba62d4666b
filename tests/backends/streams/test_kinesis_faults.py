"""Kinesis consumers through failures, on the moto server: nothing read is lost or skipped.

moto neither throttles, nor expires shard iterators, nor ends a closed shard with a page that has
no ``NextShardIterator``; those are injected at the boto3 client, and checkpoint-store failures
at the kv store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.streams import Consumer, Message, Record, TopicPartition
from skybridge.backends.streams.kinesis import KinesisStream
from skybridge.backends.streams.kinesis.shards import shard_id
from skybridge.core.errors import SkybridgeError, TransientError
from skybridge.testing.contracts.streams import drain, unique

from .test_kinesis_resharding import kinesis

__all__ = ["kinesis"]  # the fixture of test_kinesis_resharding, used here
pytestmark = pytest.mark.moto

TIMEOUT = 10.0


def client_error(code: str) -> ClientError:
    error = {"Error": {"Code": code, "Message": code}}
    return ClientError(error, "GetRecords")  # type: ignore[arg-type]


def poll_until(
    consumer: Consumer, done: Callable[[list[Record]], bool]
) -> tuple[list[Record], list[SkybridgeError]]:
    """Poll (as a retrying application does) until ``done(records)`` or ``TIMEOUT``: the
    records, and the errors the polls raised."""
    records: list[Record] = []
    errors: list[SkybridgeError] = []
    deadline = time.monotonic() + TIMEOUT
    while not done(records) and time.monotonic() < deadline:
        try:
            records.extend(consumer.poll(500, 0.2))
        except SkybridgeError as exc:
            errors.append(exc)
    return records, errors


def values(records: list[Record]) -> list[bytes]:
    return [r.value for r in records]


def test_a_throttled_shard_keeps_the_records_read_before_it(
    kinesis: KinesisStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic, group = unique("t"), unique("g")
    kinesis.create_topic(topic, 2)
    produced = kinesis.produce(
        topic, [Message(b"%d-%d" % (p, i), partition=p) for p in (0, 1) for i in range(3)]
    )
    get_records = kinesis.client.get_records
    calls: list[str] = []

    def throttled(**kwargs: Any) -> Any:
        calls.append(kwargs["ShardIterator"])
        if len(calls) == 2:  # shard 1, read after shard 0 in the first poll
            raise client_error("ProvisionedThroughputExceededException")
        return get_records(**kwargs)

    monkeypatch.setattr(kinesis.client, "get_records", throttled)
    with kinesis.consumer(group, [topic]) as consumer:
        assert consumer.assignment() == {TopicPartition(topic, 0), TopicPartition(topic, 1)}
        first = consumer.poll(500, 0)
        assert values(first) == [b"0-0", b"0-1", b"0-2"]
        consumer.commit()
        assert kinesis.committed(group, topic) == {0: produced[2].offset + 1, 1: None}
        with pytest.raises(TransientError, match="ProvisionedThroughputExceeded"):
            consumer.poll(500, 0)
        rest, errors = poll_until(consumer, lambda got: len(got) >= 3)
        assert errors == []
        assert values(rest) == [b"1-0", b"1-1", b"1-2"]
        consumer.commit()
    last = {p.partition: p.offset + 1 for p in produced}
    assert kinesis.committed(group, topic) == last


@pytest.fixture
def expiring(kinesis: KinesisStream, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``expire()``: every shard iterator handed out so far is expired from now on (as after
    five minutes without a poll). moto's iterators name a position, so the same position asked
    again gives the same text: each is tagged with the generation it was handed out in."""
    generation = [0]
    client = kinesis.client
    get_shard_iterator, get_records = client.get_shard_iterator, client.get_records

    def new_iterator(**kwargs: Any) -> Any:
        answer = dict(get_shard_iterator(**kwargs))
        answer["ShardIterator"] = f"{generation[0]}|{answer['ShardIterator']}"
        return answer

    def read(**kwargs: Any) -> Any:
        born, _, iterator = kwargs.pop("ShardIterator").partition("|")
        if int(born) < generation[0]:
            raise client_error("ExpiredIteratorException")
        page = dict(get_records(ShardIterator=iterator, **kwargs))
        if page.get("NextShardIterator"):
            page["NextShardIterator"] = f"{born}|{page['NextShardIterator']}"
        return page

    def expire() -> None:
        generation[0] += 1

    monkeypatch.setattr(client, "get_shard_iterator", new_iterator)
    monkeypatch.setattr(client, "get_records", read)
    return expire


def test_an_expired_iterator_is_renewed_after_the_last_record_read(
    kinesis: KinesisStream, expiring: Callable[[], None]
) -> None:
    topic, group = unique("t"), unique("g")
    kinesis.create_topic(topic, 1)
    kinesis.produce(topic, [b"a", b"b"])
    with kinesis.consumer(group, [topic]) as consumer:
        assert values(drain(consumer, 2, TIMEOUT)) == [b"a", b"b"]
        expiring()
        kinesis.produce(topic, [b"c", b"d"])
        later, errors = poll_until(consumer, lambda got: len(got) >= 2)
        assert errors == []
        assert values(later) == [b"c", b"d"]
        consumer.commit()
        expiring()
        assert consumer.poll(500, 0.2) == []


def test_an_expired_iterator_that_read_nothing_starts_where_the_first_one_did(
    kinesis: KinesisStream, expiring: Callable[[], None]
) -> None:
    topic, group = unique("t"), unique("g")
    kinesis.create_topic(topic, 1)
    with kinesis.consumer(group, [topic]) as consumer:
        assert consumer.poll(500, 0.2) == []  # at the shard's start ("earliest"), empty
        expiring()
        kinesis.produce(topic, [b"a", b"b"])
        got, errors = poll_until(consumer, lambda got: len(got) >= 2)
        assert errors == []
        assert values(got) == [b"a", b"b"]


class FailingStore:
    """Makes the checkpoint store's next ``get`` or ``put`` of one key fail once."""

    def __init__(self, store: KeyValueStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.failing: dict[str, str] = {}  # key -> "get" or "put"
        get, put = store.get, store.put

        def failing_get(key: str) -> bytes | None:
            self._maybe_fail("get", key)
            return get(key)

        def failing_put(key: str, value: Any, **kwargs: Any) -> int:
            self._maybe_fail("put", key)
            return put(key, value, **kwargs)

        monkeypatch.setattr(store, "get", failing_get)
        monkeypatch.setattr(store, "put", failing_put)

    def fail_once(self, operation: str, key: str) -> None:
        self.failing[key] = operation

    def _maybe_fail(self, operation: str, key: str) -> None:
        if self.failing.get(key) == operation:
            del self.failing[key]
            raise TransientError(f"checkpoint store {operation} {key}: throttled")


@pytest.fixture
def failing_store(kinesis: KinesisStream, monkeypatch: pytest.MonkeyPatch) -> FailingStore:
    assert kinesis.checkpoints is not None
    return FailingStore(kinesis.checkpoints, monkeypatch)


@pytest.fixture
def split_topic(kinesis: KinesisStream) -> tuple[str, list[bytes]]:
    """A one-shard topic holding 24 records, split: (topic, the values in shard 0)."""
    topic = unique("t")
    kinesis.create_topic(topic, 1)
    sent = [b"%d" % i for i in range(24)]
    kinesis.produce(topic, sent)
    stream = f"sb-{topic}"
    hashes = kinesis.client.list_shards(StreamName=stream)["Shards"][0]["HashKeyRange"]
    middle = (int(hashes["StartingHashKey"]) + int(hashes["EndingHashKey"])) // 2
    kinesis.client.split_shard(
        StreamName=stream, ShardToSplit=shard_id(0), NewStartingHashKey=str(middle)
    )
    return topic, sent


def finished(kinesis: KinesisStream, group: str, topic: str) -> bytes | None:
    assert kinesis.checkpoints is not None
    return kinesis.checkpoints.get(f"{group}/finished/{topic}/0")


def test_the_last_page_of_a_closed_shard_is_delivered_when_the_store_fails(
    kinesis: KinesisStream,
    split_topic: tuple[str, list[bytes]],
    failing_store: FailingStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As on Kinesis, the page holding a closed shard's last record has no next iterator."""
    topic, sent = split_topic
    group = unique("g")
    get_records = kinesis.client.get_records

    def ending(**kwargs: Any) -> Any:
        page = get_records(**kwargs)
        if page["Records"] and page["Records"][-1]["Data"] == sent[-1]:
            del page["NextShardIterator"]
        return page

    monkeypatch.setattr(kinesis.client, "get_records", ending)
    children = {TopicPartition(topic, 1), TopicPartition(topic, 2)}
    with kinesis.consumer(group, [topic]) as consumer:
        first = consumer.poll(12, TIMEOUT)
        consumer.commit()
        failing_store.fail_once("get", f"{group}/offsets/{topic}/0")
        rest, errors = poll_until(consumer, lambda got: len(got) >= 12)
        assert values(first + rest) == sent
        assert errors == []
        assert finished(kinesis, group, topic) is None, "its last records are not committed"
        consumer.commit()
        assert finished(kinesis, group, topic) == b"SHARD_END"
        poll_until(consumer, lambda _: consumer.assignment() == children)
        assert consumer.assignment() == children


def test_a_shard_end_is_finished_by_a_later_poll_when_the_store_fails(
    kinesis: KinesisStream, split_topic: tuple[str, list[bytes]], failing_store: FailingStore
) -> None:
    topic, sent = split_topic
    group = unique("g")
    children = {TopicPartition(topic, 1), TopicPartition(topic, 2)}
    with kinesis.consumer(group, [topic]) as consumer:
        assert values(drain(consumer, 24, TIMEOUT)) == sent
        consumer.commit()
        failing_store.fail_once("put", f"{group}/finished/{topic}/0")
        _, errors = poll_until(consumer, lambda _: consumer.assignment() == children)
        assert consumer.assignment() == children
    assert [type(e) for e in errors] == [TransientError]
    assert finished(kinesis, group, topic) == b"SHARD_END"

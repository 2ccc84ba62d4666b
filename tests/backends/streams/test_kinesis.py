"""Kinesis through boto3 on the moto server; group leases and checkpoints in a sqlite kv."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from skybridge.backends import kv
from skybridge.backends.streams import Message, Retention, TopicPartition, connect
from skybridge.backends.streams.kinesis import KinesisStream
from skybridge.backends.streams.kinesis.envelope import MAGIC
from skybridge.core.errors import ConfigError, ValidationError
from skybridge.testing.contracts.streams import StreamsContract, drain, unique
from skybridge.testing.servers import RunningServer

pytestmark = pytest.mark.moto


@pytest.fixture
def kinesis(moto_server: RunningServer, tmp_path: Path) -> KinesisStream:
    checkpoints = kv.connect(f"sqlite:///{tmp_path}/checkpoints.db")
    backend = connect(
        f"kinesis://sb-?region=us-east-1&endpoint_url={moto_server.url}"
        "&session_timeout=1.5&heartbeat_interval=0.1&poll_interval=0.05",
        checkpoints=checkpoints,
    )
    assert isinstance(backend, KinesisStream)
    return backend


class TestKinesis(StreamsContract):
    join_timeout = 5.0

    @pytest.fixture
    def streams(self, kinesis: KinesisStream) -> KinesisStream:
        return kinesis


def test_topics_are_prefixed_streams_and_partitions_shards(
    kinesis: KinesisStream, moto_server: RunningServer
) -> None:
    topic = unique("t")
    kinesis.create_topic(topic, 3, Retention(max_age=48 * 3600))
    raw = boto3.client("kinesis", region_name="us-east-1", endpoint_url=moto_server.url)
    summary = raw.describe_stream_summary(StreamName=f"sb-{topic}")["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 3
    assert kinesis.describe(topic).retention.max_age == 48 * 3600


def test_headers_travel_in_an_envelope_only_when_present(
    kinesis: KinesisStream, moto_server: RunningServer
) -> None:
    topic = unique("t")
    kinesis.create_topic(topic, 1)
    kinesis.produce(topic, [Message(b"plain", key=b"k"), Message(b"v", headers=[("h", b"1")])])
    raw = boto3.client("kinesis", region_name="us-east-1", endpoint_url=moto_server.url)
    shard = raw.list_shards(StreamName=f"sb-{topic}")["Shards"][0]["ShardId"]
    it = raw.get_shard_iterator(
        StreamName=f"sb-{topic}", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    data = [r["Data"] for r in raw.get_records(ShardIterator=it)["Records"]]
    assert data[0] == b"plain"
    assert data[1].startswith(MAGIC)


def test_data_that_only_looks_like_an_envelope_is_delivered_as_it_is(
    kinesis: KinesisStream, moto_server: RunningServer
) -> None:
    """Another producer's bytes that start like an envelope, or a damaged envelope, come out
    as they went in, without headers: they never stop the shard they are on."""
    topic = unique("t")
    kinesis.create_topic(topic, 1)
    raw = boto3.client("kinesis", region_name="us-east-1", endpoint_url=moto_server.url)
    odd = [
        MAGIC + b"\x00",  # cut short in its length
        MAGIC + b"\x00\x00\x00\x09abc",  # headers longer than the data
        MAGIC + b"\x00\x00\x00\x05\x00\x01\x00\x00\xff",  # a header name not UTF-8
    ]
    for data in odd:
        raw.put_record(StreamName=f"sb-{topic}", Data=data, PartitionKey="k")
    kinesis.produce(topic, [Message(b"after", key=b"k", headers=[("h", b"1")])])
    with kinesis.consumer(unique("g"), [topic]) as consumer:
        got = drain(consumer, 4, 20)
    assert [(r.value, r.headers) for r in got] == [
        *((data, []) for data in odd),
        (b"after", [("h", b"1")]),
    ]


def test_more_than_500_records_are_split_into_requests(kinesis: KinesisStream) -> None:
    topic = unique("t")
    kinesis.create_topic(topic, 2)
    produced = kinesis.produce(topic, [Message(b"%d" % i, key=b"%d" % i) for i in range(1200)])
    assert len(produced) == 1200
    assert sum(kinesis.lag("nobody", topic)[p].lag for p in (0, 1)) == 1200


def test_bad_partition_keys_and_retention_are_refused(kinesis: KinesisStream) -> None:
    topic = unique("t")
    kinesis.create_topic(topic, 1)
    with pytest.raises(ValidationError):
        kinesis.produce(topic, [Message(b"x", key=b"\xff\xfe")])
    with pytest.raises(ValidationError):
        kinesis.produce(topic, [Message(b"x", key=b"k" * 257)])
    with pytest.raises(ValidationError):
        kinesis.create_topic(unique("t"), 1, Retention(max_records=3))


def test_groups_need_a_checkpoint_store(moto_server: RunningServer) -> None:
    backend = connect(f"kinesis://sb-?region=us-east-1&endpoint_url={moto_server.url}")
    topic = unique("t")
    backend.create_topic(topic, 1)
    with pytest.raises(ConfigError, match="checkpoints"):
        backend.consumer("g", [topic])


def test_checkpoints_survive_in_the_kv_store(kinesis: KinesisStream) -> None:
    topic, group = unique("t"), unique("g")
    kinesis.create_topic(topic, 1)
    produced = kinesis.produce(topic, [b"a", b"b"])
    with kinesis.consumer(group, [topic]) as consumer:
        consumer.commit_records(drain(consumer, 2, 5)[:1])
    assert kinesis.checkpoints is not None
    stored = kinesis.checkpoints.get(f"{group}/offsets/{topic}/0")
    assert stored == b"%d" % (produced[0].offset + 1)
    assert kinesis.committed(group, topic) == {0: produced[0].offset + 1}
    assert TopicPartition(topic, 0).partition == 0


def test_a_batch_longer_than_the_session_timeout_keeps_its_shard(kinesis: KinesisStream) -> None:
    """The background heartbeat renews the lease while the member is busy: a member joining
    meanwhile gets nothing, and the slow batch's commit is not refused."""
    topic, group = unique("t"), unique("g")
    kinesis.create_topic(topic, 1)
    kinesis.produce(topic, [b"a", b"b"])
    with kinesis.consumer(group, [topic]) as busy:
        got = drain(busy, 2, 5)
        with kinesis.consumer(group, [topic]) as newcomer:
            for _ in range(5):  # 2.5 s without a poll by the busy member
                assert newcomer.poll(10, 0.5) == []
        busy.commit_records(got)
        assert busy.keepalive.renewals > 0
    assert kinesis.committed(group, topic) == {0: got[-1].offset + 1}


def test_a_member_that_stops_polling_lets_its_lease_lapse(
    moto_server: RunningServer, tmp_path: Path
) -> None:
    checkpoints = kv.connect(f"sqlite:///{tmp_path}/checkpoints.db")
    kinesis = connect(
        f"kinesis://sb-?region=us-east-1&endpoint_url={moto_server.url}&session_timeout=1"
        "&heartbeat_interval=0.1&poll_interval=0.05&max_poll_interval=0.2",
        checkpoints=checkpoints,
    )
    topic, group = unique("t"), unique("g")
    kinesis.create_topic(topic, 1)
    kinesis.produce(topic, [b"a"])
    with kinesis.consumer(group, [topic]) as stuck:
        assert drain(stuck, 1, 5)
        with kinesis.consumer(group, [topic]) as taker:
            assert [r.value for r in drain(taker, 1, 5)] == [b"a"]
        assert stuck.keepalive.renewals <= 2

"""``kinesis://<stream-prefix>?region=..&endpoint_url=..``: topics are streams, partitions shards.

Partition ``i`` of a topic is the ``i``-th open shard by shard id. Offsets are sequence numbers
as ints. Consumer groups keep leases and checkpoints in a ``kv`` backend given as option
``checkpoints=`` (a ``KeyValueStore`` or a kv URL). ``end_offsets``, ``start_offsets`` and
``lag`` read the shards (Kinesis has no cheap "last sequence number"): they cost GetRecords
calls proportional to the records retained or behind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import boto3

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.kv import connect as connect_kv
from skybridge.backends.streams.base import RebalanceCallback, StartPosition, StreamBackend
from skybridge.backends.streams.kinesis.consumer import KinesisConsumer
from skybridge.backends.streams.kinesis.errors import translate_error
from skybridge.backends.streams.kinesis.leases import KvLeases
from skybridge.backends.streams.kinesis.shards import ShardReader
from skybridge.backends.streams.kinesis.writer import put_records
from skybridge.backends.streams.records import (
    Message,
    PartitionLag,
    Produced,
    Retention,
    TopicInfo,
    TopicPartition,
)
from skybridge.core.errors import ConfigError, NotFound, ValidationError
from skybridge.core.urls import BackendURL


class KinesisStream(StreamBackend):
    scheme = "kinesis"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"consumer_groups", "seek", "retention", "headers", "lag", "explicit_partition"}
    )
    retention_fields: ClassVar[frozenset[str]] = frozenset({"max_age"})

    def __init__(
        self,
        client: Any,
        prefix: str = "",
        *,
        checkpoints: KeyValueStore | None = None,
        session_timeout: float = 10.0,
        heartbeat_interval: float | None = None,
        poll_interval: float = 0.2,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.checkpoints = checkpoints
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval or session_timeout / 5
        self.poll_interval = poll_interval
        self.shards = ShardReader(client)

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = dict(url.params)
        client = boto3.client(
            "kinesis",
            region_name=params.pop("region", None),
            endpoint_url=params.pop("endpoint_url", None),
        )
        checkpoints = options.pop("checkpoints", params.pop("checkpoints", None))
        if isinstance(checkpoints, str):
            checkpoints = connect_kv(checkpoints, setting="backends.streams.checkpoints")
        for name in ("session_timeout", "heartbeat_interval", "poll_interval"):
            if name in params and name not in options:
                options[name] = float(params[name])
        return cls(client, url.rest, checkpoints=checkpoints, **options)

    def stream_name(self, topic: str) -> str:
        return f"{self.prefix}{topic}"

    def ping(self) -> None:
        try:
            self.client.list_streams(Limit=1)
        except Exception as exc:
            raise translate_error(exc, "ping") from None

    # -- topics -------------------------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int = 1, retention: Retention | None = None
    ) -> TopicInfo:
        retention = self.check_retention(retention)
        stream = self.stream_name(name)
        try:
            self.client.create_stream(StreamName=stream, ShardCount=partitions)
        except Exception as exc:
            if exc.__class__.__name__ != "ResourceInUseException":
                raise translate_error(exc, "create_topic") from None
        self._wait_active(stream)
        if retention.max_age is not None:
            hours = int(retention.max_age // 3600)
            if not 24 <= hours <= 8760:
                raise ValidationError("kinesis retention is 24 to 8760 hours")
            try:
                self.client.increase_stream_retention_period(
                    StreamName=stream, RetentionPeriodHours=hours
                )
            except Exception as exc:
                raise translate_error(exc, "create_topic") from None
        return self.describe(name)

    def _wait_active(self, stream: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            summary = self._summary(stream)
            if summary["StreamStatus"] in {"ACTIVE", "UPDATING"}:
                return
            time.sleep(0.5)
        raise ConfigError(f"kinesis stream {stream} did not become ACTIVE")

    def _summary(self, stream: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.client.describe_stream_summary(StreamName=stream)
        except Exception as exc:
            raise translate_error(exc, "describe") from None
        summary: dict[str, Any] = found["StreamDescriptionSummary"]
        return summary

    def describe(self, topic: str) -> TopicInfo:
        summary = self._summary(self.stream_name(topic))
        hours = summary.get("RetentionPeriodHours", 24)
        return TopicInfo(topic, summary["OpenShardCount"], Retention(max_age=hours * 3600.0))

    # -- produce ------------------------------------------------------------------------------

    def _produce(self, topic: str, messages: Sequence[Message]) -> list[Produced]:
        stream = self.stream_name(topic)
        shards = self.shards.open_shards(stream)
        results = put_records(self.client, stream, shards, messages)
        index = {shard["ShardId"]: i for i, shard in enumerate(shards)}
        return [Produced(topic, index[shard_id], int(seq)) for shard_id, seq in results]

    # -- offsets and groups -------------------------------------------------------------------

    def _tps(self, topic: str) -> list[TopicPartition]:
        return [TopicPartition(topic, i) for i in range(self.describe(topic).partitions)]

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {
            tp.partition: self.shards.scan(self.stream_name(topic), tp.partition)[2]
            for tp in self._tps(topic)
        }

    def start_offsets(self, topic: str) -> dict[int, int]:
        return {
            tp.partition: self.shards.scan(self.stream_name(topic), tp.partition)[1]
            for tp in self._tps(topic)
        }

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        leases = self._leases()
        return {tp.partition: leases.committed(group, tp) for tp in self._tps(topic)}

    def lag(self, group: str, topic: str) -> dict[int, PartitionLag]:
        """Counted by reading each shard from the committed position (sequence numbers skip)."""
        done = self.committed(group, topic)
        result: dict[int, PartitionLag] = {}
        for partition, committed in done.items():
            count, _, end = self.shards.scan(self.stream_name(topic), partition, after=committed)
            result[partition] = PartitionLag(committed, end, count)
        return result

    def _leases(self) -> KvLeases:
        if self.checkpoints is None:
            raise ConfigError(
                "kinesis consumer groups need a kv backend for leases and checkpoints",
                hint="pass checkpoints=<KeyValueStore or kv URL>",
            )
        return KvLeases(self.checkpoints)

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        start: StartPosition = "earliest",
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> KinesisConsumer:
        for topic in topics:
            self.describe(topic)
        return KinesisConsumer(
            self,
            self._leases(),
            group,
            topics,
            start=start,
            on_assign=on_assign,
            on_revoke=on_revoke,
        )

    def topic_name(self, stream: str) -> str:
        if not stream.startswith(self.prefix):
            raise NotFound(f"stream {stream} is outside prefix {self.prefix!r}")
        return stream[len(self.prefix) :]

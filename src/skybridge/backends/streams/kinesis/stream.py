"""``kinesis://<stream-prefix>?region=..&endpoint_url=..``: topics are streams, partitions shards.

Partition ``n`` of a topic is the shard ``shardId-<n>`` (its numeric suffix): Kinesis never
reuses a shard number, so a partition keeps meaning one shard across resharding, and before any
reshard the numbers are ``0..N-1``. Offsets are sequence numbers as ints. Consumer groups keep
leases and checkpoints in a ``kv`` backend given as option ``checkpoints=`` (a ``KeyValueStore``
or a kv URL). ``end_offsets``, ``start_offsets`` and ``lag`` read the shards (Kinesis has no cheap
"last sequence number"): they cost GetRecords calls proportional to the records retained or
behind.

Resharding (SplitShard, MergeShards, UpdateShardCount) closes shards and opens children with new
numbers. As the KCL does, a group reads a child only once its parent(s) are read to the end and
committed, so one key's records keep their order; the owner of a closed shard marks it finished
in the checkpoint store when it reaches the end (GetRecords returns no next iterator) and every
record read from it is committed, and finished shards are no longer assigned. Members divide the
shards readable now (open, or closed and unfinished with finished parents). The shard list is
cached for ``shard_refresh_interval`` seconds and listed again when a shard ends. A child starts
at its first record (the group read its parent); ``start="latest"`` skips closed shards that the
group had never read. ``describe().partitions`` is one more than the highest shard number, so
numbers below it may be closed shards; a message sent to a closed shard's partition goes to the
open shard that now holds the start of its hash range, and ``Produced`` says which.

Kinesis ends a closed shard with a GetRecords response without ``NextShardIterator``; only that
counts as the end. Emulators that never send it (moto) need ``empty_read_ends_closed_shard=true``:
an empty read at the tip of a shard the listing shows closed then counts as its end. Never set
it against AWS, where a closed shard can return empty pages before its end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import boto3

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.kv import connect as connect_kv
from skybridge.backends.streams.base import (
    RebalanceCallback,
    StartPosition,
    StreamBackend,
    read_plan,
)
from skybridge.backends.streams.kinesis.consumer import KinesisConsumer, as_record
from skybridge.backends.streams.kinesis.errors import translate_error
from skybridge.backends.streams.kinesis.leases import KvLeases
from skybridge.backends.streams.kinesis.shards import Shard, ShardReader
from skybridge.backends.streams.kinesis.writer import put_records
from skybridge.backends.streams.records import (
    Message,
    PartitionLag,
    Produced,
    Record,
    Retention,
    TopicInfo,
    TopicPartition,
)
from skybridge.core.errors import ConfigError, NotFound, ValidationError
from skybridge.core.urls import BackendURL

#: URL parameters read as seconds.
_NUMBER_PARAMS = (
    "session_timeout",
    "heartbeat_interval",
    "max_poll_interval",
    "poll_interval",
    "shard_refresh_interval",
)


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
        max_poll_interval: float = 300.0,
        poll_interval: float = 0.2,
        shard_refresh_interval: float = 10.0,
        empty_read_ends_closed_shard: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.checkpoints = checkpoints
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval or session_timeout / 5
        self.max_poll_interval = max_poll_interval
        self.poll_interval = poll_interval
        self.shards = ShardReader(client, shard_refresh_interval)
        self.empty_read_ends_closed_shard = empty_read_ends_closed_shard

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
        for name in _NUMBER_PARAMS:
            if name in params and name not in options:
                options[name] = float(params[name])
        if "empty_read_ends_closed_shard" not in options:
            options["empty_read_ends_closed_shard"] = url.flag(
                "empty_read_ends_closed_shard", default=False
            )
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
        """``partitions`` is one more than the highest shard number (open or closed)."""
        stream = self.stream_name(topic)
        summary = self._summary(stream)
        hours = summary.get("RetentionPeriodHours", 24)
        numbers = self.shards.shards(stream, fresh=True)
        count = max(numbers) + 1 if numbers else int(summary["OpenShardCount"])
        return TopicInfo(topic, count, Retention(max_age=hours * 3600.0))

    def topics(self) -> list[str]:
        """The streams whose name starts with the URL's prefix, without it."""
        names: list[str] = []
        try:
            for page in self.client.get_paginator("list_streams").paginate():
                names += page.get("StreamNames", [])
        except Exception as exc:
            raise translate_error(exc, "topics") from None
        return sorted(n[len(self.prefix) :] for n in names if n.startswith(self.prefix))

    # -- produce ------------------------------------------------------------------------------

    def _produce(self, topic: str, messages: Sequence[Message]) -> list[Produced]:
        stream = self.stream_name(topic)
        shards = self.shards.shards(stream)
        if any(m.partition is not None and m.partition not in shards for m in messages):
            shards = self.shards.shards(stream, fresh=True)
        results = put_records(self.client, stream, shards, messages)
        return [Produced(topic, partition, seq) for partition, seq in results]

    # -- offsets and groups -------------------------------------------------------------------

    def _listed(self, topic: str) -> dict[int, Shard]:
        """Every shard of ``topic`` still listed (open, and closed ones within retention)."""
        return dict(sorted(self.shards.shards(self.stream_name(topic), fresh=True).items()))

    def end_offsets(self, topic: str) -> dict[int, int]:
        stream = self.stream_name(topic)
        return {n: self.shards.scan(stream, n)[2] for n in self._listed(topic)}

    def start_offsets(self, topic: str) -> dict[int, int]:
        stream = self.stream_name(topic)
        return {n: self.shards.scan(stream, n)[1] for n in self._listed(topic)}

    def read_to_end(self, topic: str, offsets: Mapping[int, int] | None = None) -> list[Record]:
        """Reads each listed shard with GetRecords (no leases, checkpoints or kv store) to its
        tip by the rule ``end_offsets`` counts with: the end of a closed shard, or an empty
        page not behind the tip."""
        stream = self.stream_name(topic)
        listed = self._listed(topic)
        records: list[Record] = []
        for partition, asked in read_plan(topic, listed, offsets).items():
            start = listed[partition].starting_sequence
            after = None if asked is None or asked <= start else asked
            tp = TopicPartition(topic, partition)
            for page in self.shards.pages(stream, partition, after):
                records.extend(as_record(tp, item) for item in page)
        return records

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        leases = self._leases()
        return {n: leases.committed(group, TopicPartition(topic, n)) for n in self._listed(topic)}

    def lag(self, group: str, topic: str) -> dict[int, PartitionLag]:
        """Counted by reading each shard from the committed position (sequence numbers skip);
        shards the group finished have none."""
        done = self.committed(group, topic)
        finished = self._leases().finished(group, topic)
        stream = self.stream_name(topic)
        listed = self.shards.shards(stream)
        result: dict[int, PartitionLag] = {}
        for partition, committed in done.items():
            if partition in finished:  # nothing to read there: no scan
                shard = listed.get(partition)
                start = shard.starting_sequence if shard is not None else 0
                end = committed if committed is not None else start
                result[partition] = PartitionLag(committed, end, 0)
                continue
            count, _, end = self.shards.scan(stream, partition, after=committed)
            result[partition] = PartitionLag(committed, end, count)
        return result

    def groups(self) -> dict[str, list[str]]:
        """Groups keep checkpoints in the ``checkpoints`` kv store: none without one."""
        return {} if self.checkpoints is None else self._leases().groups()

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

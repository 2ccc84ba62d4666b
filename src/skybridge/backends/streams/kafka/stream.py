"""``kafka://``: Kafka, MSK and OCI Streaming through confluent-kafka (librdkafka)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

from confluent_kafka import Consumer as RdConsumer
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as RdTopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from skybridge.backends.streams.base import (
    RebalanceCallback,
    StartPosition,
    StreamBackend,
    read_plan,
)
from skybridge.backends.streams.kafka.config import KafkaSettings
from skybridge.backends.streams.kafka.consumer import KafkaConsumer, decode, fetch
from skybridge.backends.streams.kafka.errors import translate_error
from skybridge.backends.streams.records import Message, Produced, Record, Retention, TopicInfo
from skybridge.core.errors import NotFound, TransientError
from skybridge.core.urls import BackendURL

#: How long a call may wait for the broker before it is a TransientError.
_TIMEOUT = 15.0
#: Group id of the clients ``read_to_end`` reads with: librdkafka wants one, but a client that
#: is only assigned partitions never joins (nor commits for) its group.
_READER_GROUP = "skybridge-reader"


class KafkaStream(StreamBackend):
    """A Kafka cluster. ``produce`` sends one batch and waits for every acknowledgement."""

    url_credentials = True

    scheme = "kafka"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"consumer_groups", "seek", "retention", "headers", "lag", "explicit_partition"}
    )
    retention_fields: ClassVar[frozenset[str]] = frozenset({"max_age", "max_bytes"})

    def __init__(self, settings: KafkaSettings) -> None:
        self.settings = settings
        self._producer: Producer | None = None
        self._admin: AdminClient | None = None
        self._meta: RdConsumer | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        return cls(KafkaSettings.from_url(url, **options))

    def __repr__(self) -> str:
        return f"KafkaStream({self.settings.bootstrap})"

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            self._admin = AdminClient(self.settings.admin_config())
        return self._admin

    @property
    def meta(self) -> RdConsumer:
        """A consumer that never joins a group, for watermarks and committed offsets."""
        if self._meta is None:
            self._meta = RdConsumer(self.settings.consumer_config("skybridge-meta", "earliest"))
        return self._meta

    def ping(self) -> None:
        try:
            self.admin.list_topics(timeout=5)
        except KafkaException as exc:
            raise translate_error(exc, "ping") from None

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(_TIMEOUT)
        if self._meta is not None:
            self._meta.close()
        self._producer = self._admin = self._meta = None

    # -- topics -----------------------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int = 1, retention: Retention | None = None
    ) -> TopicInfo:
        retention = self.check_retention(retention)
        # Always set both: some clients (Quix) read them back and Tansu returns only what was set.
        config = {
            "retention.ms": str(int(retention.max_age * 1000)) if retention.max_age else "-1",
            "retention.bytes": str(retention.max_bytes or -1),
        }
        topic = NewTopic(name, partitions, self.settings.replication_factor, config=config)
        future = self.admin.create_topics([topic], request_timeout=_TIMEOUT)[name]
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise translate_error(exc, "create_topic") from None
        return self._wait_for_topic(name)

    def _wait_for_topic(self, name: str) -> TopicInfo:
        deadline = time.monotonic() + _TIMEOUT
        while True:
            try:
                return self.describe(name)
            except NotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def describe(self, topic: str) -> TopicInfo:
        return TopicInfo(topic, self._partition_count(topic), self._retention(topic))

    def _partition_count(self, topic: str) -> int:
        try:
            # All topics: asking for one by name makes some brokers (Tansu) auto-create it.
            metadata = self.admin.list_topics(timeout=_TIMEOUT)
        except KafkaException as exc:
            raise translate_error(exc, "describe") from None
        info = metadata.topics.get(topic)
        if info is None or info.error is not None or not info.partitions:
            raise NotFound(f"kafka topic '{topic}' does not exist")
        return len(info.partitions)

    def topics(self) -> list[str]:
        """Topics whose name starts with ``__`` are the broker's own and left out."""
        try:
            metadata = self.admin.list_topics(timeout=_TIMEOUT)
        except KafkaException as exc:
            raise translate_error(exc, "topics") from None
        return sorted(
            name
            for name, info in metadata.topics.items()
            if not name.startswith("__") and info.error is None
        )

    def _retention(self, topic: str) -> Retention:
        resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
        try:
            configs = self.admin.describe_configs([resource])[resource].result(_TIMEOUT)
        except KafkaException:
            return Retention()  # some brokers (and ACLs) refuse DescribeConfigs: unknown
        values = {k: int(v.value) for k, v in configs.items() if k.startswith("retention.")}
        age, size = values.get("retention.ms", -1), values.get("retention.bytes", -1)
        return Retention(
            max_age=age / 1000 if age >= 0 else None, max_bytes=size if size >= 0 else None
        )

    # -- produce ----------------------------------------------------------------------------

    def _get_producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.settings.producer_config())
        return self._producer

    def _produce(self, topic: str, messages: Sequence[Message]) -> list[Produced]:
        producer = self._get_producer()
        results: list[Produced | KafkaError | None] = [None] * len(messages)

        def delivered(index: int) -> Any:
            def callback(err: KafkaError | None, msg: Any) -> None:
                results[index] = err or Produced(topic, msg.partition(), msg.offset())

            return callback

        with self._lock:
            for index, message in enumerate(messages):
                self._send(producer, topic, message, delivered(index))
            remaining = producer.flush(_TIMEOUT)
        if remaining:
            raise TransientError(f"kafka produce: {remaining} messages not acknowledged in time")
        for result in results:
            if isinstance(result, KafkaError):
                raise translate_error(result, "produce")
        return [r for r in results if isinstance(r, Produced)]

    @staticmethod
    def _send(producer: Producer, topic: str, message: Message, callback: Any) -> None:
        kwargs: dict[str, Any] = {"key": message.key, "headers": list(message.headers) or None}
        if message.partition is not None:
            kwargs["partition"] = message.partition
        if message.timestamp is not None:
            kwargs["timestamp"] = int(message.timestamp * 1000)
        while True:
            try:
                producer.produce(topic, message.value, on_delivery=callback, **kwargs)
                return
            except BufferError:
                producer.poll(0.05)  # local queue full: let deliveries drain
            except KafkaException as exc:
                raise translate_error(exc, "produce") from None

    # -- offsets and groups -----------------------------------------------------------------

    def _watermarks(self, topic: str) -> dict[int, tuple[int, int]]:
        count = self._partition_count(topic)
        try:
            return {
                p: self.meta.get_watermark_offsets(RdTopicPartition(topic, p), timeout=_TIMEOUT)
                for p in range(count)
            }
        except KafkaException as exc:
            raise translate_error(exc, "watermarks") from None

    def end_offsets(self, topic: str) -> dict[int, int]:
        return {p: high for p, (_, high) in self._watermarks(topic).items()}

    def start_offsets(self, topic: str) -> dict[int, int]:
        return {p: low for p, (low, _) in self._watermarks(topic).items()}

    def read_to_end(self, topic: str, offsets: Mapping[int, int] | None = None) -> list[Record]:
        """Reads with a client that is assigned the partitions (it joins no group), up to the
        high watermarks of when the call began.

        A partition is done when a record at or past its end offset minus one arrives, or the
        client reaches the end of the partition (an EOF event at or past the end offset: after
        transaction markers or compaction no record may sit there). Records keep arriving in
        whole fetched batches, and every record of a batch is kept: Tansu reports a high
        watermark as its last batch's base offset + 1, so that batch's later records are past
        the end offset the broker reports.

        Raises:
            TransientError: the broker handed out nothing for 15 seconds before the end.
        """
        marks = self._watermarks(topic)
        ranges: dict[int, tuple[int, int]] = {}
        for partition, asked in read_plan(topic, marks, offsets).items():
            start, end = marks[partition]
            first = start if asked is None else max(asked, start)
            if first < end:
                ranges[partition] = (first, end)
        if not ranges:
            return []
        config = self.settings.consumer_config(_READER_GROUP, "earliest")
        config["enable.partition.eof"] = True
        reader = RdConsumer(config)
        try:
            reader.assign([RdTopicPartition(topic, p, first) for p, (first, _) in ranges.items()])
            found = self._read_ranges(reader, topic, ranges)
        except KafkaException as exc:
            raise translate_error(exc, "read_to_end") from None
        finally:
            reader.close()
        return [r for p in sorted(found) for r in found[p]]

    @staticmethod
    def _read_ranges(
        reader: RdConsumer, topic: str, ranges: dict[int, tuple[int, int]]
    ) -> dict[int, list[Record]]:
        found: dict[int, list[Record]] = {p: [] for p in ranges}
        pending = set(ranges)
        deadline = time.monotonic() + _TIMEOUT
        while pending:
            # Take everything queued: a batch stays whole (see read_to_end).
            messages = fetch(reader, 100_000, 0.1)
            records, last, eofs = decode(messages, "read_to_end")
            for record in records:
                found[record.partition].append(record)
            for (_, partition), offset in last.items():
                if offset >= ranges[partition][1] - 1:
                    pending.discard(partition)
            for _, partition, offset in eofs:
                if offset >= ranges[partition][1]:
                    pending.discard(partition)
            if messages:
                deadline = time.monotonic() + _TIMEOUT
            elif time.monotonic() > deadline:
                raise TransientError(
                    f"kafka read_to_end: partitions {sorted(pending)} of '{topic}' were not "
                    f"read to their end offsets: nothing arrived in {_TIMEOUT:.0f}s"
                )
        return found

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        count = self.describe(topic).partitions
        probe = RdConsumer(self.settings.consumer_config(group, "earliest"))
        try:
            found = probe.committed([RdTopicPartition(topic, p) for p in range(count)], _TIMEOUT)
        except KafkaException as exc:
            raise translate_error(exc, "committed") from None
        finally:
            probe.close()
        return {tp.partition: tp.offset if tp.offset >= 0 else None for tp in found}

    def commit_group(self, group: str, topic: str, positions: Mapping[int, int]) -> None:
        """Store ``group``'s positions on ``topic`` without joining the group: a client that is
        only assigned partitions commits as a simple consumer (no join, no rebalance).

        Raises:
            Conflict: the group has members right now; the broker keeps their positions
                (``UNKNOWN_MEMBER_ID``).
        """
        if not positions:
            return
        client = RdConsumer(self.settings.consumer_config(group, "earliest"))
        try:
            client.commit(
                offsets=[RdTopicPartition(topic, p, o) for p, o in positions.items()],
                asynchronous=False,
            )
        except KafkaException as exc:
            raise translate_error(exc, "commit_group") from None
        finally:
            client.close()

    def groups(self) -> dict[str, list[str]]:
        try:
            listed = self.admin.list_consumer_groups(request_timeout=_TIMEOUT).result()
            found = {g.group_id: self._group_topics(g.group_id) for g in listed.valid}
        except KafkaException as exc:
            raise translate_error(exc, "groups") from None
        return {group: topics for group, topics in sorted(found.items()) if topics}

    def _group_topics(self, group: str) -> list[str]:
        request = [ConsumerGroupTopicPartitions(group)]
        futures = self.admin.list_consumer_group_offsets(request, request_timeout=_TIMEOUT)
        offsets = futures[group].result()
        return sorted({tp.topic for tp in offsets.topic_partitions or [] if tp.offset >= 0})

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        start: StartPosition = "earliest",
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> KafkaConsumer:
        config = self.settings.consumer_config(group, start)
        return KafkaConsumer(config, group, topics, on_assign=on_assign, on_revoke=on_revoke)

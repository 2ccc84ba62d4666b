"""Event streams: partitioned topics, keyed produce, consumer groups with explicit commits.

``connect("sqlite:///.skybridge/streams.db")`` gives the embedded log; ``kafka://host:port``
Kafka, MSK or OCI Streaming (confluent-kafka); ``kinesis://prefix?region=..`` Kinesis (boto3).
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.streams.base import (
    Consumer,
    RebalanceCallback,
    StartPosition,
    StreamBackend,
)
from skybridge.backends.streams.records import (
    Headers,
    Message,
    PartitionLag,
    Produced,
    Record,
    Retention,
    TopicInfo,
    TopicPartition,
    next_positions,
)
from skybridge.core.registry import Registry

registry: Registry[StreamBackend] = Registry("streams", StreamBackend)  # type: ignore[type-abstract]
registry.register("sqlite", "skybridge.backends.streams.sqlite:SqliteStream")
registry.register("kafka", "skybridge.backends.streams.kafka:KafkaStream", extra="kafka")
registry.register("kinesis", "skybridge.backends.streams.kinesis:KinesisStream", extra="aws")


def connect(url: str, *, setting: str | None = "backends.streams", **options: Any) -> StreamBackend:
    """Build the stream backend ``url`` names (options go to its ``from_url``)."""
    return registry.connect(url, setting=setting, **options)


__all__ = [
    "Consumer",
    "Headers",
    "Message",
    "PartitionLag",
    "Produced",
    "RebalanceCallback",
    "Record",
    "Retention",
    "StartPosition",
    "StreamBackend",
    "TopicInfo",
    "TopicPartition",
    "connect",
    "next_positions",
    "registry",
]

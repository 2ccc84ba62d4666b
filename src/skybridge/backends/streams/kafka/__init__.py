"""Kafka, MSK and OCI Streaming (``kafka://``), through confluent-kafka."""

from skybridge.backends.streams.kafka.consumer import KafkaConsumer
from skybridge.backends.streams.kafka.stream import KafkaStream

__all__ = ["KafkaConsumer", "KafkaStream"]

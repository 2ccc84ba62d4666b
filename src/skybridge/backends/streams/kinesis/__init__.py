"""Kinesis Data Streams (``kinesis://``), through boto3."""

from skybridge.backends.streams.kinesis.consumer import KinesisConsumer
from skybridge.backends.streams.kinesis.stream import KinesisStream

__all__ = ["KinesisConsumer", "KinesisStream"]

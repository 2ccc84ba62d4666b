"""librdkafka errors as the core error tree."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException

from skybridge.core.errors import (
    Conflict,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.secret import scrub

_NOT_FOUND = {
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._UNKNOWN_PARTITION,
}
_CONFLICT = {
    KafkaError.TOPIC_ALREADY_EXISTS,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.FENCED_INSTANCE_ID,
    KafkaError._STATE,
}
_INVALID = {
    KafkaError.INVALID_PARTITIONS,
    KafkaError.INVALID_CONFIG,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError.INVALID_REPLICATION_FACTOR,
    KafkaError._INVALID_ARG,
    KafkaError.OFFSET_OUT_OF_RANGE,
}
_TERMINAL = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError._MSG_TIMED_OUT,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.SASL_AUTHENTICATION_FAILED,
    KafkaError._AUTHENTICATION,
    KafkaError.POLICY_VIOLATION,
}
_TRANSIENT = {
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.THROTTLING_QUOTA_EXCEEDED,
    KafkaError._QUEUE_FULL,
    KafkaError.NOT_ENOUGH_REPLICAS,
}


def translate_error(error: KafkaError | KafkaException, operation: str) -> SkybridgeError:
    """One librdkafka error as a ``SkybridgeError`` (message scrubbed of known secrets)."""
    err = error.args[0] if isinstance(error, KafkaException) and error.args else error
    if not isinstance(err, KafkaError):
        return TerminalError(f"kafka {operation} failed: {scrub(str(error))}")
    code = err.code()
    text = f"kafka {operation} failed: {err.name()}: {scrub(err.str())}"
    if code in _NOT_FOUND:
        return NotFound(text)
    if code in _CONFLICT:
        return Conflict(text)
    if code in _INVALID:
        return ValidationError(text)
    if code in _TERMINAL or err.fatal():
        return TerminalError(text)
    if code in _TRANSIENT or err.retriable():
        return TransientError(text)
    return TerminalError(text)

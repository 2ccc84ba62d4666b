"""Encodings and error translation shared by the stream backends."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from confluent_kafka import KafkaError, KafkaException
from hypothesis import given
from hypothesis import strategies as st

from skybridge.backends.streams import Message, Record, next_positions
from skybridge.backends.streams.kafka.errors import translate_error as kafka_error
from skybridge.backends.streams.kinesis.envelope import MAGIC, unwrap, wrap
from skybridge.backends.streams.kinesis.errors import translate_error as kinesis_error
from skybridge.backends.streams.kinesis.shards import Shard
from skybridge.backends.streams.kinesis.writer import put_records
from skybridge.backends.streams.records import TopicPartition, decode_headers, encode_headers
from skybridge.core.errors import (
    Conflict,
    NotFound,
    TerminalError,
    TransientError,
    ValidationError,
)

headers_strategy = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=50)), max_size=5)


@given(headers_strategy)
def test_headers_round_trip(headers: list[tuple[str, bytes]]) -> None:
    assert decode_headers(encode_headers(headers)) == headers


@given(st.binary(max_size=200), headers_strategy)
def test_kinesis_envelope_round_trips(value: bytes, headers: list[tuple[str, bytes]]) -> None:
    data = wrap(value, headers)
    assert unwrap(data) == (value, headers)
    if not headers and not value.startswith(MAGIC):
        assert data == value


@pytest.mark.parametrize("value", [MAGIC, MAGIC + b"\x00\x00\x00\x00plain", MAGIC + b"x"])
def test_a_value_that_looks_like_an_envelope_round_trips(value: bytes) -> None:
    assert unwrap(wrap(value, [])) == (value, [])


def test_next_positions_take_highest_offset_plus_one() -> None:
    records = [Record("t", p, o, None, b"") for p, o in [(0, 5), (0, 3), (1, 9)]]
    assert next_positions(records) == {TopicPartition("t", 0): 6, TopicPartition("t", 1): 10}


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (KafkaError._TRANSPORT, TransientError),
        (KafkaError.REQUEST_TIMED_OUT, TransientError),
        (KafkaError.UNKNOWN_TOPIC_OR_PART, NotFound),
        (KafkaError.REBALANCE_IN_PROGRESS, Conflict),
        (KafkaError.INVALID_PARTITIONS, ValidationError),
        (KafkaError.MSG_SIZE_TOO_LARGE, TerminalError),
        (KafkaError.SASL_AUTHENTICATION_FAILED, TerminalError),
    ],
)
def test_kafka_errors_are_translated(code: int, expected: type[Exception]) -> None:
    assert isinstance(kafka_error(KafkaException(KafkaError(code)), "op"), expected)


def _client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "PutRecords",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ProvisionedThroughputExceededException", 400, TransientError),
        ("InternalFailure", 500, TransientError),
        ("ResourceNotFoundException", 400, NotFound),
        ("ResourceInUseException", 400, Conflict),
        ("InvalidArgumentException", 400, ValidationError),
        ("AccessDeniedException", 403, TerminalError),
    ],
)
def test_kinesis_errors_are_translated(code: str, status: int, expected: type[Exception]) -> None:
    assert isinstance(kinesis_error(_client_error(code, status), "op"), expected)


class FlakyKinesis:
    """Fault injection: every other record is throttled on the first ``failures`` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[int] = []
        self.seq = 0

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Records))
        out: list[dict[str, Any]] = []
        for i, _ in enumerate(Records):
            if len(self.calls) <= self.failures and i % 2 == 0:
                out.append({"ErrorCode": "ProvisionedThroughputExceededException"})
            else:
                self.seq += 1
                out.append({"ShardId": "shardId-0", "SequenceNumber": str(self.seq)})
        failed = sum("ErrorCode" in o for o in out)
        return {"FailedRecordCount": failed, "Records": out}


SHARDS = {0: Shard(number=0, parents=(), closed=False, starting_hash_key="0", starting_sequence=0)}


def test_put_records_retries_only_failed_entries_in_500_record_requests() -> None:
    client = FlakyKinesis(failures=1)
    results = put_records(client, "s", SHARDS, [Message(b"x", key=b"k")] * 600)
    assert len(results) == 600
    assert len({seq for _, seq in results}) == 600
    assert client.calls == [500, 250, 100]


def test_put_records_gives_up_with_a_transient_error() -> None:
    with pytest.raises(TransientError, match="ProvisionedThroughputExceeded"):
        put_records(FlakyKinesis(failures=99), "s", SHARDS, [Message(b"x", key=b"k")] * 4)

"""PutRecords in batches within Kinesis limits, retrying the entries that failed."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from skybridge.backends.streams.kinesis.envelope import partition_key, wrap
from skybridge.backends.streams.kinesis.errors import translate_error
from skybridge.backends.streams.kinesis.shards import Shard, shard_number
from skybridge.backends.streams.records import Message
from skybridge.core.errors import TransientError, ValidationError

MAX_RECORDS = 500
MAX_REQUEST_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024
ATTEMPTS = 5


def _entries(shards: Mapping[int, Shard], messages: Sequence[Message]) -> list[dict[str, Any]]:
    """PutRecords entries; an explicit partition is the start of its shard's hash range (for a
    closed shard Kinesis routes it to the open shard that now holds that hash key). A shard past
    retention is no longer listed: a message for it is routed by its key (shard numbers are
    handed out in order, so a number below the highest listed one was a shard)."""
    entries = []
    highest = max(shards, default=-1)
    for message in messages:
        entry: dict[str, Any] = {
            "Data": wrap(message.value, message.headers),
            "PartitionKey": partition_key(message.key),
        }
        if message.partition is not None:
            shard = shards.get(message.partition)
            if shard is not None:
                entry["ExplicitHashKey"] = shard.starting_hash_key
            elif not 0 <= message.partition < highest:
                raise ValidationError(f"partition {message.partition} is not a shard of the stream")
        if len(entry["Data"]) + len(entry["PartitionKey"].encode()) > MAX_RECORD_BYTES:
            raise ValidationError("a kinesis record (data + partition key) is at most 1 MiB")
        entries.append(entry)
    return entries


def _chunks(entries: list[dict[str, Any]]) -> Iterator[list[int]]:
    """Indexes of entries grouped so each request stays within 500 records and 5 MiB."""
    chunk: list[int] = []
    size = 0
    for i, entry in enumerate(entries):
        entry_size = len(entry["Data"]) + len(entry["PartitionKey"].encode())
        if chunk and (len(chunk) == MAX_RECORDS or size + entry_size > MAX_REQUEST_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += entry_size
    if chunk:
        yield chunk


def put_records(
    client: Any, stream: str, shards: Mapping[int, Shard], messages: Sequence[Message]
) -> list[tuple[int, int]]:
    """Write ``messages`` in order of batches; return (partition, sequence number) per message."""
    entries = _entries(shards, messages)
    results: list[tuple[int, int] | None] = [None] * len(entries)
    for chunk in _chunks(entries):
        pending = chunk
        for attempt in range(ATTEMPTS):
            try:
                response = client.put_records(
                    StreamName=stream, Records=[entries[i] for i in pending]
                )
            except Exception as exc:
                raise translate_error(exc, "put_records") from None
            failed = []
            for i, outcome in zip(pending, response["Records"], strict=True):
                if "ErrorCode" in outcome:
                    failed.append((i, outcome["ErrorCode"]))
                else:
                    results[i] = (
                        shard_number(outcome["ShardId"]),
                        int(outcome["SequenceNumber"]),
                    )
            if not failed:
                break
            pending = [i for i, _ in failed]
            if attempt == ATTEMPTS - 1:
                codes = sorted({code for _, code in failed})
                raise TransientError(
                    f"kinesis put_records: {len(failed)} records still failing ({', '.join(codes)})"
                )
            time.sleep(0.05 * 2**attempt)
    return [r for r in results if r is not None]

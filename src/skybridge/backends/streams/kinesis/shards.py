"""Shard listing, iterators and reads."""

from __future__ import annotations

from typing import Any

from skybridge.backends.streams.kinesis.errors import translate_error

#: Safety net for scans: GetRecords calls per shard before giving up on reaching the tip.
_MAX_SCAN_CALLS = 10_000


class ShardReader:
    def __init__(self, client: Any) -> None:
        self.client = client
        self._shards: dict[str, list[dict[str, Any]]] = {}

    def open_shards(self, stream: str) -> list[dict[str, Any]]:
        """Open shards sorted by id (partition ``i`` is the ``i``-th); cached per stream."""
        cached = self._shards.get(stream)
        if cached is not None:
            return cached
        shards: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": stream}
        try:
            while True:
                page = self.client.list_shards(**kwargs)
                shards.extend(page["Shards"])
                if not page.get("NextToken"):
                    break
                kwargs = {"NextToken": page["NextToken"]}
        except Exception as exc:
            raise translate_error(exc, "list_shards") from None
        open_ = [s for s in shards if "EndingSequenceNumber" not in s["SequenceNumberRange"]]
        self._shards[stream] = sorted(open_, key=lambda s: s["ShardId"])
        return self._shards[stream]

    def shard_id(self, stream: str, partition: int) -> str:
        return str(self.open_shards(stream)[partition]["ShardId"])

    def iterator(self, stream: str, partition: int, kind: str, sequence: int | None = None) -> str:
        kwargs: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": self.shard_id(stream, partition),
            "ShardIteratorType": kind,
        }
        if sequence is not None:
            kwargs["StartingSequenceNumber"] = str(sequence)
        try:
            return str(self.client.get_shard_iterator(**kwargs)["ShardIterator"])
        except Exception as exc:
            raise translate_error(exc, "get_shard_iterator") from None

    def read(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None, int]:
        """One GetRecords call: (records, next iterator, milliseconds behind the tip)."""
        try:
            page = self.client.get_records(ShardIterator=iterator, Limit=min(limit, 10_000))
        except Exception as exc:
            raise translate_error(exc, "get_records") from None
        return (
            page["Records"],
            page.get("NextShardIterator"),
            int(page.get("MillisBehindLatest", 0)),
        )

    def scan(self, stream: str, partition: int, after: int | None = None) -> tuple[int, int, int]:
        """Read a shard from position ``after`` (or its start) to the tip.

        Returns (records read, first offset, end offset); on an empty range both offsets are
        ``after`` (or the shard's starting sequence number).
        """
        if after is None:
            shard = self.open_shards(stream)[partition]
            empty = int(shard["SequenceNumberRange"]["StartingSequenceNumber"])
            it: str | None = self.iterator(stream, partition, "TRIM_HORIZON")
        else:
            empty = after
            it = self.iterator(stream, partition, "AFTER_SEQUENCE_NUMBER", after - 1)
        count, first, last = 0, None, None
        for _ in range(_MAX_SCAN_CALLS):
            if it is None:
                break
            records, it, behind = self.read(it, 10_000)
            if records:
                count += len(records)
                first = first if first is not None else int(records[0]["SequenceNumber"])
                last = int(records[-1]["SequenceNumber"])
            elif behind == 0:
                break
        if last is None or first is None:
            return 0, empty, empty
        return count, first, last + 1

"""Shard listing and lineage, iterators and reads.

A partition is the number in its shard's id (``shardId-000000000007`` is partition 7): Kinesis
gives each new shard the next number and never reuses one, so a partition keeps meaning the same
shard across splits and merges.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from skybridge.backends.streams.kinesis.errors import translate_error

#: Safety net for scans: GetRecords calls per shard before giving up on reaching the tip.
_MAX_SCAN_CALLS = 10_000


def shard_number(shard_id: str) -> int:
    """The partition number of ``shard_id`` (its numeric suffix)."""
    return int(shard_id.rpartition("-")[2])


def shard_id(number: int) -> str:
    return f"shardId-{number:012d}"


@dataclass(frozen=True)
class Shard:
    """What the consumer needs of a listed shard."""

    number: int
    parents: tuple[int, ...]
    closed: bool
    starting_hash_key: str
    starting_sequence: int

    @classmethod
    def from_listing(cls, raw: Mapping[str, Any]) -> Shard:
        parents = (raw.get("ParentShardId"), raw.get("AdjacentParentShardId"))
        sequences = raw["SequenceNumberRange"]
        return cls(
            number=shard_number(raw["ShardId"]),
            parents=tuple(shard_number(p) for p in parents if p),
            closed="EndingSequenceNumber" in sequences,
            starting_hash_key=str(raw["HashKeyRange"]["StartingHashKey"]),
            starting_sequence=int(sequences["StartingSequenceNumber"]),
        )


def readable_shards(shards: Mapping[int, Shard], finished: Collection[int]) -> set[int]:
    """Shards a group may read now: not finished, and every parent still listed is finished.

    A child is read only after its parent(s) so that one key's records stay in order across a
    split or merge; a parent past retention is no longer listed and holds nothing to wait for.
    """
    return {
        number
        for number, shard in shards.items()
        if number not in finished and all(p in finished or p not in shards for p in shard.parents)
    }


class ShardReader:
    """Kinesis calls on shards; the shard list is cached per stream for ``refresh_interval``."""

    def __init__(self, client: Any, refresh_interval: float = 10.0) -> None:
        self.client = client
        self.refresh_interval = refresh_interval
        self._listed: dict[str, tuple[float, dict[int, Shard]]] = {}

    def shards(self, stream: str, *, fresh: bool = False) -> dict[int, Shard]:
        """Every listed shard (open, and closed ones still retained) by partition number."""
        cached = self._listed.get(stream)
        if cached is not None and not fresh:
            listed_at, shards = cached
            if time.monotonic() - listed_at < self.refresh_interval:
                return shards
        shards = {s.number: s for s in map(Shard.from_listing, self._list(stream))}
        self._listed[stream] = (time.monotonic(), shards)
        return shards

    def shard(self, stream: str, partition: int) -> Shard | None:
        """The listed shard ``partition``, listing again if the cached list lacks it."""
        found = self.shards(stream).get(partition)
        return found if found is not None else self.shards(stream, fresh=True).get(partition)

    def forget(self, stream: str) -> None:
        """Drop the cached list (a shard ended: its children are to be listed)."""
        self._listed.pop(stream, None)

    def _list(self, stream: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"StreamName": stream}
        try:
            while True:
                page = self.client.list_shards(**kwargs)
                found.extend(page["Shards"])
                if not page.get("NextToken"):
                    return found
                kwargs = {"NextToken": page["NextToken"]}
        except Exception as exc:
            raise translate_error(exc, "list_shards") from None

    def iterator(self, stream: str, partition: int, kind: str, sequence: int | None = None) -> str:
        kwargs: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": shard_id(partition),
            "ShardIteratorType": kind,
        }
        if sequence is not None:
            kwargs["StartingSequenceNumber"] = str(sequence)
        try:
            return str(self.client.get_shard_iterator(**kwargs)["ShardIterator"])
        except Exception as exc:
            raise translate_error(exc, "get_shard_iterator") from None

    def read(self, iterator: str, limit: int) -> tuple[list[dict[str, Any]], str | None, int]:
        """One GetRecords call: (records, next iterator or None at a closed shard's end,
        milliseconds behind the tip)."""
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
            shard = self.shard(stream, partition)
            empty = shard.starting_sequence if shard is not None else 0
        else:
            empty = after
        count, first, last = 0, None, None
        for records in self.pages(stream, partition, after):
            count += len(records)
            first = first if first is not None else int(records[0]["SequenceNumber"])
            last = int(records[-1]["SequenceNumber"])
        if last is None or first is None:
            return 0, empty, empty
        return count, first, last + 1

    def pages(
        self, stream: str, partition: int, after: int | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """The non-empty GetRecords pages of a shard from position ``after`` (or its start) to
        the tip: the end of a closed shard, or an empty page not behind the tip."""
        if after is None:
            it: str | None = self.iterator(stream, partition, "TRIM_HORIZON")
        else:
            it = self.iterator(stream, partition, "AFTER_SEQUENCE_NUMBER", after - 1)
        for _ in range(_MAX_SCAN_CALLS):
            if it is None:
                return
            records, it, behind = self.read(it, 10_000)
            if records:
                yield records
            elif behind == 0:
                return

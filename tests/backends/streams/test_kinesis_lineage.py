"""Kinesis shard lineage and group assignment rules, without a server.

The moto server keeps writing to a closed parent after a reshard, so the rules for children
that hold records (as on Kinesis) are checked here on listings shaped like Kinesis's.
"""

from __future__ import annotations

from typing import Any

import pytest

from skybridge.backends.streams import Message, TopicPartition
from skybridge.backends.streams.kinesis.shards import (
    Shard,
    readable_shards,
    shard_id,
    shard_number,
)
from skybridge.backends.streams.kinesis.writer import _entries
from skybridge.backends.streams.leases import target_assignment
from skybridge.core.errors import ValidationError


def listed(number: int, *parents: int, closed: bool = False) -> Shard:
    raw: dict[str, Any] = {
        "ShardId": f"shardId-{number:012d}",
        "HashKeyRange": {"StartingHashKey": str(number * 100), "EndingHashKey": "1"},
        "SequenceNumberRange": {"StartingSequenceNumber": "49600000000000000000000000001"},
    }
    if closed:
        raw["SequenceNumberRange"]["EndingSequenceNumber"] = "49600000000000000000000000099"
    for key, parent in zip(("ParentShardId", "AdjacentParentShardId"), parents, strict=False):
        raw[key] = f"shardId-{parent:012d}"
    return Shard.from_listing(raw)


def by_number(*shards: Shard) -> dict[int, Shard]:
    return {s.number: s for s in shards}


def test_partition_is_the_shard_ids_number() -> None:
    assert shard_number("shardId-000000000007") == 7
    assert shard_id(7) == "shardId-000000000007"
    assert shard_number(shard_id(123456)) == 123456


def test_listing_gives_parents_and_closed() -> None:
    merged = listed(5, 2, 3)
    assert (merged.number, merged.parents, merged.closed) == (5, (2, 3), False)
    assert listed(2, closed=True).closed
    assert listed(0).parents == ()
    assert merged.starting_hash_key == "500"


def test_children_of_a_split_wait_for_their_parent() -> None:
    shards = by_number(listed(0, closed=True), listed(1), listed(2, 0), listed(3, 0))
    assert readable_shards(shards, set()) == {0, 1}
    assert readable_shards(shards, {0}) == {1, 2, 3}


def test_a_merged_child_waits_for_both_parents() -> None:
    shards = by_number(listed(0, closed=True), listed(1, closed=True), listed(2, 0, 1))
    assert readable_shards(shards, set()) == {0, 1}
    assert readable_shards(shards, {0}) == {1}
    assert readable_shards(shards, {1}) == {0}
    assert readable_shards(shards, {0, 1}) == {2}


def test_generations_are_read_one_after_another() -> None:
    shards = by_number(
        listed(0, closed=True), listed(1, 0, closed=True), listed(2, 0), listed(3, 1), listed(4, 1)
    )
    assert readable_shards(shards, set()) == {0}
    assert readable_shards(shards, {0}) == {1, 2}
    assert readable_shards(shards, {0, 1}) == {2, 3, 4}


def test_a_parent_past_retention_does_not_block_its_children() -> None:
    shards = by_number(listed(2, 0), listed(3, 0), listed(4, 1, 2))
    assert readable_shards(shards, set()) == {2, 3}
    assert readable_shards(shards, {2}) == {3, 4}


def test_explicit_partitions_are_divided_by_rank() -> None:
    members = {"a": ["t"], "b": ["t"]}
    readable = {"t": {2, 4, 6, 8}}
    a = target_assignment("a", members, readable)
    b = target_assignment("b", members, readable)
    assert a == {TopicPartition("t", 2), TopicPartition("t", 6)}
    assert b == {TopicPartition("t", 4), TopicPartition("t", 8)}


def test_a_partition_count_still_means_zero_to_n() -> None:
    members = {"a": ["t"], "b": ["t", "u"]}
    assert target_assignment("a", members, {"t": 3, "u": 2}) == {
        TopicPartition("t", 0),
        TopicPartition("t", 2),
    }
    assert target_assignment("b", members, {"t": 3, "u": 2}) == {
        TopicPartition("t", 1),
        TopicPartition("u", 0),
        TopicPartition("u", 1),
    }


def test_a_message_for_a_shard_past_retention_is_routed_by_its_key() -> None:
    children = {
        n: Shard(number=n, parents=(0,), closed=False, starting_hash_key=h, starting_sequence=0)
        for n, h in ((1, "0"), (2, "170141183460469231731687303715884105728"))
    }
    routed = _entries(children, [Message(b"x", b"k", partition=0)])[0]
    assert "ExplicitHashKey" not in routed  # shard 0 expired: Kinesis hashes the key
    assert _entries(children, [Message(b"x", b"k", partition=2)])[0]["ExplicitHashKey"] == (
        "170141183460469231731687303715884105728"
    )
    with pytest.raises(ValidationError, match="partition 7 is not a shard"):
        _entries(children, [Message(b"x", b"k", partition=7)])

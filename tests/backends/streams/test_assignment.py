"""Group assignment without a broker (sqlite log, Kinesis): balanced, identical on every
member, and sticky, so a partition coming or going or a member joining moves little."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from skybridge.backends.streams import TopicPartition
from skybridge.backends.streams.leases import target_assignment

member_names = st.lists(st.sampled_from("abcdefg"), min_size=1, max_size=5, unique=True)
partition_sets = st.sets(st.integers(0, 40), max_size=25)


def assign(
    members: list[str], partitions: set[int], owners: dict[TopicPartition, str] | None = None
) -> dict[str, set[int]]:
    table = dict.fromkeys(members, ("t",))
    return {
        m: {tp.partition for tp in target_assignment(m, table, {"t": partitions}, owners)}
        for m in members
    }


def as_owners(assignment: dict[str, set[int]]) -> dict[TopicPartition, str]:
    return {TopicPartition("t", p): m for m, ps in assignment.items() for p in ps}


@given(member_names, partition_sets)
def test_without_owners_partitions_are_dealt_round_robin_by_rank(
    members: list[str], partitions: set[int]
) -> None:
    ordered, ranked = sorted(partitions), sorted(members)
    expected = {
        m: {p for i, p in enumerate(ordered) if i % len(ranked) == r} for r, m in enumerate(ranked)
    }
    assert assign(members, partitions) == expected


@given(member_names, partition_sets, st.data())
def test_every_partition_has_one_member_and_shares_differ_by_at_most_one(
    members: list[str], partitions: set[int], data: st.DataObject
) -> None:
    owners = (
        {
            TopicPartition("t", p): data.draw(st.sampled_from([*members, "gone"]))
            for p in data.draw(st.sets(st.sampled_from(sorted(partitions))))
            if partitions
        }
        if partitions
        else {}
    )
    result = assign(members, partitions, owners)
    dealt = [p for ps in result.values() for p in ps]
    assert sorted(dealt) == sorted(partitions)
    sizes = [len(ps) for ps in result.values()]
    assert max(sizes) - min(sizes) <= 1


@given(member_names, partition_sets, st.data())
def test_a_partition_going_away_moves_no_other(
    members: list[str], partitions: set[int], data: st.DataObject
) -> None:
    before = assign(members, partitions)
    if not partitions:
        return
    gone = data.draw(st.sampled_from(sorted(partitions)))
    after = assign(members, partitions - {gone}, as_owners(before))
    # At most one partition changes hands: the one a member with an extra partition hands to
    # the member that lost ``gone``, when the shares require it.
    moved = sum(len(after[m] - before[m]) for m in members)
    assert moved <= 1


def test_a_split_of_one_shard_of_six_moves_only_the_new_shards() -> None:
    members = ["a", "b", "c"]
    before = assign(members, set(range(6)))
    after = assign(members, set(range(1, 6)), as_owners(before))
    assert all(before[m] - {0} <= after[m] for m in members)  # nothing moved
    children = assign(members, set(range(1, 8)), as_owners(after))
    assert all(after[m] <= children[m] for m in members)
    assert set().union(*children.values()) == set(range(1, 8))


@given(member_names, partition_sets)
def test_a_member_joining_takes_only_its_share(members: list[str], partitions: set[int]) -> None:
    newcomer = "z"
    before = assign(members, partitions)
    after = assign([*members, newcomer], partitions, as_owners(before))
    moved = sum(len(after[m] - before[m]) for m in members) + len(after[newcomer])
    assert moved == len(after[newcomer]) <= len(partitions) // (len(members) + 1) + 1

"""Version-guarded upserts, tombstones and staging merges on SQLite and PostgreSQL.

The property: whatever order and however often changes arrive (split into any batches,
redelivered, older versions late), the table ends as the newest version of each key.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text
from tests.apps.datasync.conftest import TABLES, change

from skybridge.apps.datasync.changes import Change
from skybridge.apps.datasync.target import SqlTarget
from skybridge.core.errors import ValidationError


def expected(changes: list[Change]) -> dict[int, tuple[int, bool, str | None]]:
    """Per key: (version, deleted, status) of its newest change."""
    best: dict[int, Change] = {}
    for c in changes:
        key = c.row["order_id"]
        if key not in best or c.row["version"] > best[key].row["version"]:
            best[key] = c
    return {k: (c.row["version"], c.op == "delete", c.row.get("status")) for k, c in best.items()}


def actual(target: SqlTarget) -> dict[int, tuple[int, bool, str | None]]:
    rows = target.rows("orders", include_deleted=True)
    return {r["order_id"]: (r["version"], bool(r["sb_deleted"]), r["status"]) for r in rows}


def test_an_older_version_never_overwrites_a_newer_one(target: SqlTarget) -> None:
    [first] = target.apply([change(1, 5, "shipped")])
    assert (first.applied, first.stale) == (1, 0)
    [late] = target.apply([change(1, 4, "paid")])
    assert (late.applied, late.stale) == (0, 1)
    [again] = target.apply([change(1, 5, "shipped")])
    assert again.applied == 0  # a redelivery is a no-op
    [row] = target.rows("orders")
    assert (row["version"], row["status"], row["amount"]) == (5, "shipped", Decimal("1.25"))


def test_a_delete_leaves_a_tombstone_older_changes_cannot_revive(target: SqlTarget) -> None:
    target.apply([change(7, 1), change(7, 3, op="delete")])
    target.apply([change(7, 2, "paid")])
    assert target.rows("orders") == []
    [tomb] = target.rows("orders", include_deleted=True)
    assert tomb["sb_deleted"]
    assert tomb["version"] == 3
    target.apply([change(7, 4, "again")])
    assert [r["status"] for r in target.rows("orders")] == ["again"]


def test_one_batch_holding_several_versions_of_a_key_keeps_the_newest(target: SqlTarget) -> None:
    [result] = target.apply([change(2, 1), change(2, 3, "c"), change(2, 2, "b"), change(2, 3, "x")])
    assert (result.received, result.applied) == (4, 1)
    assert actual(target) == {2: (3, False, "c")}  # a version names one state: the first stays


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    events=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 8)), min_size=1, max_size=40),
    cuts=st.lists(st.integers(1, 40), max_size=6),
    redeliver=st.booleans(),
)
def test_any_order_and_batching_ends_at_the_newest_versions(
    engine: Engine, events: list[tuple[int, int]], cuts: list[int], redeliver: bool
) -> None:
    target = SqlTarget(engine, TABLES)
    target.create()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM orders"))
    # A version names one state of a row: its content follows from (key, version).
    changes = [
        change(k, v, "abc"[(k + v) % 3], op="delete" if (k * v) % 5 == 0 else "upsert")
        for k, v in events
    ]
    bounds = sorted({0, len(changes), *[c for c in cuts if c < len(changes)]})
    for start, end in itertools.pairwise(bounds):
        target.apply(changes[start:end])
        if redeliver:
            target.apply(changes[start:end])
    assert actual(target) == expected(changes)


def test_a_wrong_value_is_refused_before_anything_is_written(target: SqlTarget) -> None:
    from skybridge.apps.datasync.changes import parse_change

    with pytest.raises(ValidationError, match="amount"):
        parse_change(
            {"table": "orders", "row": {"order_id": 1, "version": 1, "amount": "x"}}, TABLES
        )
    with pytest.raises(ValidationError, match="unknown column 'colour'") as info:
        parse_change({"table": "orders", "row": {"order_id": 1, "version": 1, "colour": 1}}, TABLES)
    assert str(info.value.hint).startswith("the table's columns: order_id, ")
    with pytest.raises(ValidationError, match="unknown columns 'hue', 'tint'"):
        parse_change(
            {"table": "orders", "row": {"order_id": 1, "version": 1, "tint": 1, "hue": 2}}, TABLES
        )
    with pytest.raises(ValidationError, match="version"):
        parse_change({"table": "orders", "row": {"order_id": 1}}, TABLES)
    assert target.rows("orders") == []


def test_staging_merge_takes_each_keys_newest_and_is_idempotent(target: SqlTarget) -> None:
    target.apply([change(1, 5, "newer-here")])
    staged = [change(1, 4, "older"), change(2, 1, "a"), change(2, 2, "b"), change(3, 1)]
    assert target.load_staging("orders", "b-1", staged) == 4
    assert target.load_staging("orders", "b-1", staged) == 4  # replaced, not appended
    assert target.staged("orders", "b-1") == 4
    assert target.merge_batch("orders", "b-1") == 2
    assert target.staged("orders", "b-1") == 0  # cleared with the merge
    assert target.merge_batch("orders", "b-1") == 0
    assert actual(target) == {1: (5, False, "newer-here"), 2: (2, False, "b"), 3: (1, False, "new")}


@pytest.mark.postgres
def test_large_upserts_on_postgresql_go_through_copy_and_keep_the_guard(
    pg_database: Any,
) -> None:
    target = SqlTarget(pg_database(), TABLES)
    target.create()
    first = [change(n, 2, "v2") for n in range(5000)]
    [result] = target.apply(first)
    assert result.applied == 5000
    mixed = [change(n, 1 if n % 2 else 3, "v3") for n in range(5000)] + [change(9999, 1)]
    [result] = target.apply(mixed)
    assert (result.applied, result.stale) == (2501, 2500)
    rows = dict(actual(target).items())
    assert rows[0] == (3, False, "v3")
    assert rows[1] == (2, False, "v2")
    assert 9999 in rows
    with target.engine.connect() as conn:  # no temporary table outlives its transaction
        leftovers = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'sb_load_%'")
        )
        assert leftovers.scalar_one() == 0

"""Batch CSV parts round-trip every value exactly, and change documents parse or are refused
with a message naming the column (hypothesis)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.apps.datasync.changes import Change, parse_change
from skybridge.apps.datasync.config import ColumnType, TableSpec
from skybridge.apps.datasync.parts import decode_part, encode_parts
from skybridge.core.errors import ValidationError

SPEC = TableSpec(
    key=["id"],
    version="changed",
    columns={
        "id": ColumnType.BIGINT,
        "changed": ColumnType.TIMESTAMP,
        "price": ColumnType.NUMERIC,
        "note": ColumnType.TEXT,
        "ok": ColumnType.BOOLEAN,
        "score": ColumnType.FLOAT,
    },
)
#: A bound for numerics NUMERIC(38,10) holds: 28 significant digits, as Decimal's default
#: context keeps (a bound of 28 integer digits and 4 places rounds to 1E+28, which it does not).
FITS = Decimal("999999999999999999999999.9999")
texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
rows = st.fixed_dictionaries(
    {
        "id": st.integers(-(2**63), 2**63 - 1),
        "changed": st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)),
        "price": st.none()
        | st.decimals(-FITS, FITS, allow_nan=False, allow_infinity=False, places=4),
        "note": st.none() | texts,
        "ok": st.none() | st.booleans(),
        "score": st.none() | st.floats(allow_nan=False, allow_infinity=False),
    }
)


@given(st.lists(st.tuples(rows, st.booleans(), st.floats(0, 2e9)), max_size=20), st.integers(1, 7))
def test_parts_round_trip_every_value(
    items: list[tuple[dict[str, object], bool, float]], part_rows: int
) -> None:
    changes = [
        Change(
            "t",
            "delete" if deleted else "upsert",
            dict(row) if not deleted else {"id": row["id"], "changed": row["changed"]},
            at,
        )
        for row, deleted, at in items
    ]
    parts = list(encode_parts(changes, SPEC, "b-1", part_rows))
    back = [c for i, part in enumerate(parts) for c in decode_part(part, SPEC, "t", f"part-{i}")]
    assert len(parts) == max(1, -(-len(changes) // part_rows))
    assert [(c.op, c.at) for c in back] == [(c.op, c.at) for c in changes]
    for got, sent in zip(back, changes, strict=True):
        for name, value in sent.row.items():
            if isinstance(value, Decimal):
                assert got.row[name] == value
            else:
                assert got.row[name] == value, name


@pytest.mark.parametrize(
    ("row", "column"),
    [
        ({"id": "seven", "changed": 1}, "id"),
        ({"id": 1, "changed": "yesterday"}, "changed"),
        ({"id": 1, "changed": 1, "price": "NaN"}, "price"),
        ({"id": 1, "changed": 1, "ok": "maybe"}, "ok"),
        ({"id": 1, "changed": 1, "note": {"a": 1}}, "note"),
        ({"id": True, "changed": 1}, "id"),
        ({"id": 2**64, "changed": 1}, "id"),
    ],
)
def test_bad_values_are_refused_naming_the_column(row: dict[str, object], column: str) -> None:
    with pytest.raises(ValidationError, match=f"column '{column}'"):
        parse_change({"table": "t", "row": row}, {"t": SPEC})


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5))
def test_any_document_parses_or_is_refused_with_a_validation_error(row: dict[str, object]) -> None:
    with contextlib.suppress(ValidationError):  # anything else fails the test
        parse_change({"table": "t", "row": row}, {"t": SPEC})

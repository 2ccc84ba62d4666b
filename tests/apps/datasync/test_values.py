"""What a change may carry: ``at`` a sane time, numbers finite and within their column's type.

Every surface parses changes with :func:`parse_change`, so these are checked once: the routes and
the CLI refuse such a change (422 / exit 2) and the apply pipeline dead-letters it. A ``numeric``
is ``NUMERIC(38,10)``: too many digits before the point are refused, extra decimals rounded as
PostgreSQL rounds them, so SQLite (which keeps the text) holds the same value.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text
from tests.apps.datasync.conftest import TABLES

from skybridge.apps.datasync.changes import AT_SKEW, coerce_value, origin_time, parse_change
from skybridge.apps.datasync.config import ColumnType, TableSpec
from skybridge.apps.datasync.stream import build_stream, publish
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends import streams as streams_family
from skybridge.core.errors import ValidationError
from skybridge.core.observability import METRICS
from skybridge.runtime.deadletter import DeadLetters

NOW = 1_767_225_600.0
#: 28 digits before the point: the most ``NUMERIC(38,10)`` holds.
BIGGEST = "9" * 28


def doc(*, at: Any = None, **row: Any) -> dict[str, Any]:
    """An ``orders`` change of order 1, version 1, with ``row``'s values (and ``at``)."""
    change: dict[str, Any] = {"table": "orders", "row": {"order_id": 1, "version": 1, **row}}
    return change if at is None else change | {"at": at}


@pytest.mark.parametrize(
    "at",
    [
        1e308,
        -1e300,
        float("nan"),
        float("inf"),
        float("-inf"),
        -1,
        pytest.param(10**400, id="10**400"),
        "1767225600",
        True,
    ],
)
def test_an_at_that_is_no_time_is_refused_saying_which_range(at: Any) -> None:
    with pytest.raises(ValidationError, match=r"^at ") as caught:
        parse_change(doc(at=at), TABLES)
    if not isinstance(at, str | bool):
        assert "from 0 (1970-01-01T00:00:00Z)" in caught.value.message
        assert "one day from now" in caught.value.message


def test_at_may_be_from_1970_to_one_day_ahead_of_this_clock() -> None:
    assert origin_time(0, now=NOW) == 0.0
    assert origin_time(NOW, now=NOW) == NOW
    assert origin_time(NOW + AT_SKEW, now=NOW) == NOW + AT_SKEW
    with pytest.raises(ValidationError, match=str(int(NOW + AT_SKEW))):
        origin_time(NOW + AT_SKEW + 1, now=NOW)
    before = time.time()
    assert before <= parse_change(doc(), TABLES).at <= time.time()  # left out: now


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e400", "28 digits before the decimal point"),
        (1e308, "28 digits before the decimal point"),
        ("1" + "0" * 28, "28 digits before the decimal point"),
        ("-1" + "0" * 28, "28 digits before the decimal point"),
        (BIGGEST + ".99999999995", "28 digits before the decimal point"),  # rounds past it
        ("NaN", "not NaN or Infinity"),
        ("Infinity", "not NaN or Infinity"),
        ("-inf", "not NaN or Infinity"),
        ("sNaN", "not NaN or Infinity"),
    ],
)
def test_a_numeric_that_numeric_38_10_cannot_hold_is_refused(value: Any, why: str) -> None:
    with pytest.raises(ValidationError, match="column 'amount'") as caught:
        parse_change(doc(amount=value), TABLES)
    assert why in caught.value.message
    assert len(caught.value.message) < 200  # names the value without echoing a huge one


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("19.90", "19.90"),  # kept as given when it fits
        ("1.00000000005", "1.0000000001"),  # extra decimals: half away from zero
        ("-1.00000000005", "-1.0000000001"),
        ("0.123456789012345", "0.1234567890"),
        ("1e5", "100000"),
        ("1e-400", "0E-10"),
        (BIGGEST + ".9999999999", BIGGEST + ".9999999999"),
        (0.1, "0.1"),
    ],
)
def test_a_numeric_is_held_as_numeric_38_10_holds_it(value: Any, stored: str) -> None:
    amount = parse_change(doc(amount=value), TABLES).row["amount"]
    assert str(amount) == stored


def test_integers_and_floats_must_be_finite_and_in_range() -> None:
    spec = TableSpec(
        key=["id"], version="v", columns={"id": ColumnType.BIGINT, "v": ColumnType.FLOAT}
    )
    for value in ("NaN", "inf", "-Infinity", "1e400", float("nan"), float("inf")):
        with pytest.raises(ValidationError, match=r"column 'v': .* finite"):
            coerce_value(value, ColumnType.FLOAT, "v")
        with pytest.raises(ValidationError, match="column 'id'"):
            parse_change({"table": "t", "row": {"id": value, "v": 1.0}}, {"t": spec})
    with pytest.raises(ValidationError, match=r"column 'id': .* -2\*\*63 to 2\*\*63-1"):
        parse_change({"table": "t", "row": {"id": 2**63, "v": 1.0}}, {"t": spec})
    assert parse_change({"table": "t", "row": {"id": 2**63 - 1, "v": 1e308}}, {"t": spec})


def test_every_dialect_holds_the_rounded_numeric(target: SqlTarget) -> None:
    values = ["1.00000000005", "-2.123456789049", BIGGEST + ".9999999999"]
    target.apply([parse_change(doc(order_id=n, amount=v), TABLES) for n, v in enumerate(values)])
    amounts = [row["amount"] for row in target.rows("orders")]
    assert amounts == [Decimal("1.0000000001"), Decimal("-2.1234567890"), Decimal(values[2])]


@pytest.mark.postgres
def test_numeric_rounding_is_postgresqls(pg_database: Any) -> None:
    engine: Engine = pg_database()
    values = ["1.00000000005", "-1.00000000005", "2.00000000004999", "0.000000000049", "1e-400"]
    with engine.connect() as conn:
        for value in values:
            cast = text("SELECT CAST(CAST(:v AS TEXT) AS NUMERIC(38,10))")
            held = conn.execute(cast, {"v": value}).scalar_one()
            assert coerce_value(value, ColumnType.NUMERIC, "amount") == held, value


def test_the_pipeline_dead_letters_such_changes_and_the_latency_stays_sane(
    tmp_path: Any, sqlite_engine: Engine
) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    backend = streams_family.connect(f"sqlite:///{tmp_path / 'log.db'}", setting=None)
    backend.create_topic("changes", 1)
    bad = {
        b"far": doc(at=1e308),
        b"before": doc(at=-1e300),
        b"nan-at": doc(at=float("nan")),  # json.dumps writes NaN, json.loads reads it
        b"huge": doc(amount="1e400"),
        b"nan-amount": doc(amount="NaN"),
    }
    for key, event in bad.items():
        backend.produce_one("changes", json.dumps(event).encode(), key=key)
    good = parse_change(doc(order_id=2, amount="3.5", at=time.time()), TABLES)
    publish(backend, "changes", [good], TABLES)
    labels = {"table": "orders", "path": "stream"}
    name = "skybridge_datasync_cross_cloud_latency_seconds_sum"
    before = METRICS.get_sample_value(name, labels) or 0.0
    build_stream(backend, "changes", target, group="g").run(idle_exit=1.0)
    assert [row["order_id"] for row in target.rows("orders")] == [2]
    letters = {x.key: x for x in DeadLetters(backend, "changes").letters()}
    assert set(letters) == set(bad)
    assert {x.error_type for x in letters.values()} == {"ValidationError"}
    assert "1970-01-01" in letters[b"far"].error
    assert "28 digits" in letters[b"huge"].error
    assert 0 <= (METRICS.get_sample_value(name, labels) or 0.0) - before < 3600

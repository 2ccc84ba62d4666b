"""One key value, one lock, however its writers spell it.

Writers lock the key values they touch by name. Equal values can have different texts: numeric
1.0 and 1.00, integer 1 and numeric 1.0, one instant in two sessions' time zones, a float
printed with fewer digits. Each pair below is a write skew whose two writers touch one key
through such different texts; the second writer must still wait for the first and then fail,
as in ``test_isolation``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.core.errors import TransientError

from .test_isolation import LEVELS, race

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TABLE plans (id {plan} PRIMARY KEY);
CREATE TABLE parts (id integer PRIMARY KEY, plan_id {part});
CREATE ASSERTION plan_has_parts CHECK (
  ALL (SELECT * FROM plans) SATISFY (EXISTS (SELECT 1 FROM parts WHERE parts.plan_id = plans.id))
){deferrable};
INSERT INTO parts VALUES (1, {value});
"""

# (name, plan column type, part column type, seeded part key, first writer, second writer);
# each writer runs at its own settings, then the first adds a plan its part keeps valid, the
# second deletes that part: valid alone, jointly a plan without parts.
CASES = [
    ("numeric scales", "numeric(10, 2)", "numeric(10, 1)", "1.0", [], ["1.00"], []),
    ("integer and numeric", "integer", "numeric(10, 1)", "1.0", [], ["1"], []),
    (
        "one instant in two time zones",
        "timestamptz",
        "timestamptz",
        "'2026-01-01 00:00+00'",
        ["SET TimeZone = 'UTC'"],
        ["'2026-01-01 00:00+00'"],
        ["SET TimeZone = 'Asia/Tokyo'"],
    ),
    (
        "a float printed short",
        "double precision",
        "double precision",
        "0.1::float8 + 0.2::float8",
        ["SET extra_float_digits = 3"],
        ["0.1::float8 + 0.2::float8"],
        ["SET extra_float_digits = 0"],  # prints 0.30000000000000004 as 0.3
    ),
]


def _writers(
    first_settings: list[str], plan: list[str], second_settings: list[str], *, deferred: bool
) -> tuple[list[str], list[str]]:
    now = ["SET CONSTRAINTS plan_has_parts IMMEDIATE"] if deferred else []
    first = [*first_settings, f"INSERT INTO plans VALUES ({plan[0]})", *now]
    second = [*second_settings, "DELETE FROM parts WHERE id = 1", *now]
    return first, second


@pytest.mark.parametrize("deferred", [False, True], ids=["immediate", "deferrable"])
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("case", "plan_type", "part_type", "value", "first_settings", "plan", "second_settings"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_equal_keys_written_differently_share_a_lock(
    pg_database: Callable[[], Engine],
    case: str,
    plan_type: str,
    part_type: str,
    value: str,
    first_settings: list[str],
    plan: list[str],
    second_settings: list[str],
    level: str,
    deferred: bool,
) -> None:
    engine = pg_database()
    deferrable = " DEFERRABLE INITIALLY DEFERRED" if deferred else ""
    api.apply(
        SCHEMA.format(plan=plan_type, part=part_type, value=value, deferrable=deferrable), engine
    )
    first, second = _writers(first_settings, plan, second_settings, deferred=deferred)
    first_error, second_error, waited = race(engine, level, first, second)
    assert waited, "the second writer should wait for the first: the key is the same"
    assert first_error is None
    if level == "READ COMMITTED":
        assert isinstance(second_error, AssertionViolation), second_error
        assert second_error.name == "plan_has_parts"
    else:
        assert isinstance(second_error, TransientError), second_error
        assert "40001" in str(second_error)
    assert all(r.ok for r in api.check(engine)), api.check(engine)
    engine.dispose()


def test_different_values_do_not_share_a_lock(pg_database: Callable[[], Engine]) -> None:
    """The canonical texts still tell values apart: writers of plans 1 and 1.5 pass each other."""
    engine = pg_database()
    api.apply(
        SCHEMA.format(plan="numeric(10, 2)", part="numeric(10, 1)", value="1.5", deferrable="")
        + "INSERT INTO parts VALUES (2, 1.0); INSERT INTO plans VALUES (1.00);",
        engine,
    )
    first, second = ["INSERT INTO plans VALUES (1.50)"], ["DELETE FROM parts WHERE id = 2"]
    first_error, second_error, waited = race(engine, "READ COMMITTED", first, second)
    assert not waited
    assert first_error is None
    assert isinstance(second_error, AssertionViolation)  # plan 1.00 loses its only part


@pytest.fixture(scope="module")
def key_conn(pg_database: Callable[[], Engine]):  # type: ignore[no-untyped-def]
    engine = pg_database()
    api.apply("CREATE TABLE t (x integer)", engine)  # installs the runtime functions
    with engine.connect() as conn:
        yield conn
    engine.dispose()


def _key(conn, expression: str) -> str:  # type: ignore[no-untyped-def]
    return str(conn.exec_driver_sql(f"SELECT skybridge_assertion_key({expression})").scalar())


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=3, allow_nan=False),
    st.integers(min_value=0, max_value=6),
)
def test_a_numeric_key_ignores_its_scale(key_conn, value: Decimal, zeros: int) -> None:  # type: ignore[no-untyped-def]
    padded = f"{value:f}" + ("" if "." in f"{value:f}" else ".") + "0" * zeros
    assert _key(key_conn, f"'{value}'::numeric") == _key(key_conn, f"'{padded}'::numeric")
    if value == value.to_integral_value():
        assert _key(key_conn, f"{int(value)}::bigint") == _key(key_conn, f"'{padded}'::numeric")
        assert _key(key_conn, f"{int(value)}::float8") == _key(key_conn, f"{int(value)}::integer")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_a_float_key_ignores_extra_float_digits(key_conn, value: float) -> None:  # type: ignore[no-untyped-def]
    keys = set()
    for digits in (-15, 0, 1, 3):
        key_conn.exec_driver_sql(f"SET extra_float_digits = {digits}")
        keys.add(_key(key_conn, f"'{value!r}'::float8"))
    key_conn.exec_driver_sql("RESET extra_float_digits")
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("setting", "values", "expression"),
    [
        (
            "TimeZone",
            ["UTC", "Asia/Tokyo", "America/St_Johns"],
            "'2026-03-08 12:34:56.789+00'::timestamptz",
        ),
        ("DateStyle", ["ISO, YMD", "SQL, DMY", "German", "Postgres, MDY"], "'2026-03-08'::date"),
        ("DateStyle", ["ISO, YMD", "SQL, DMY"], "'2026-03-08 01:02:03'::timestamp"),
        ("bytea_output", ["hex", "escape"], "'\\x00ff41'::bytea"),
    ],
)
def test_a_key_ignores_the_sessions_output_settings(
    key_conn, setting: str, values: list[str], expression: str
) -> None:  # type: ignore[no-untyped-def]
    keys = set()
    for value in values:
        key_conn.exec_driver_sql(f"SET {setting} = '{value}'")
        keys.add(_key(key_conn, expression))
    key_conn.exec_driver_sql(f"RESET {setting}")
    assert len(keys) == 1, keys


def test_other_types_keep_their_own_text(key_conn) -> None:  # type: ignore[no-untyped-def]
    assert _key(key_conn, "'ab  '::char(4)") == _key(key_conn, "'ab'::varchar") == "ab"
    assert _key(key_conn, "true") == "true"
    uuid = "0f94c46c-ad31-4054-aa3a-9450c8bee1da"
    assert _key(key_conn, f"'{uuid.upper()}'::uuid") == uuid

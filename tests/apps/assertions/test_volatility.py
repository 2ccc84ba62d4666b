"""Functions an assertion calls must be deterministic: pg_proc volatility, SQLite's flags."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, event

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.core.errors import ValidationError

TABLE = "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n NUMERIC, d DATE, ts TIMESTAMPTZ)"
RULE = "CREATE ASSERTION r CHECK (NOT EXISTS (SELECT 1 FROM t WHERE {cond}))"
PG_FUNCTIONS = """
CREATE TABLE banned (name TEXT);
CREATE FUNCTION pure(x TEXT) RETURNS TEXT LANGUAGE sql IMMUTABLE AS 'SELECT lower(x)';
CREATE FUNCTION shaky(x TEXT) RETURNS TEXT LANGUAGE sql VOLATILE AS 'SELECT x';
CREATE FUNCTION looks_up(x TEXT) RETURNS BOOLEAN LANGUAGE sql STABLE
  AS 'SELECT EXISTS (SELECT 1 FROM banned WHERE name = x)';
CREATE FUNCTION twin(x INTEGER) RETURNS INTEGER LANGUAGE sql IMMUTABLE AS 'SELECT x';
CREATE FUNCTION twin(x TEXT) RETURNS TEXT LANGUAGE sql VOLATILE AS 'SELECT x';
CREATE SCHEMA util;
CREATE FUNCTION util.pure(x TEXT) RETURNS TEXT LANGUAGE sql VOLATILE AS 'SELECT x'
"""


def _catalog(engine: Engine) -> list[str]:
    return [e.name for e in api.list_assertions(engine)]


@pytest.fixture
def pg(pg_database: Any) -> Engine:
    engine: Engine = pg_database()
    api.apply(TABLE + ";\n" + PG_FUNCTIONS, engine)
    return engine


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("cond", "named", "kind"),
    [
        ("shaky(t.name) = 'x'", r"shaky\(text\)", "VOLATILE"),
        ("looks_up(t.name)", r"looks_up\(text\)", "STABLE"),
        ("util.pure(t.name) = 'x'", r"util\.pure\(text\)", "VOLATILE"),  # schema-qualified
        ("twin(t.name) = 'x'", r"twin\(text\)", "VOLATILE"),  # the overload PG picks
        ("to_char(t.ts, 'YYYY') = '2020'", r"to_char\(timestamp with time zone,text\)", "STABLE"),
        (
            "t.d < t.ts",
            r"operator <\(date,timestamp with time zone\) \(date_lt_timestamptz\(.*\)\)",
            "STABLE",
        ),
        ("age(t.ts) > interval '1 day'", r"age\(timestamp with time zone\)", "STABLE"),
    ],
)
def test_postgres_refuses_volatile_and_stable_functions(
    pg: Engine, cond: str, named: str, kind: str
) -> None:
    with pytest.raises(ValidationError, match=rf"assertion r: nondeterministic.*{named} is {kind}"):
        api.apply(RULE.format(cond=cond), pg)
    assert _catalog(pg) == []  # nothing applied


@pytest.mark.postgres
def test_postgres_message_says_why_and_what_to_do(pg: Engine) -> None:
    with pytest.raises(ValidationError) as info:
        api.apply(RULE.format(cond="looks_up(t.name)"), pg)
    text = str(info.value)
    assert "may read tables the assertion's triggers do not watch" in text
    assert "declare it IMMUTABLE" in text


@pytest.mark.postgres
def test_postgres_accepts_immutable_functions_and_enforces_them(pg: Engine) -> None:
    rule = RULE.format(cond="pure(t.name) = 'bad' AND twin(t.id) > 0 AND lower(t.name) <> ''")
    api.apply(rule, pg)
    assert _catalog(pg) == ["r"]
    with pytest.raises(AssertionViolation), api.transaction(pg) as conn:
        api.run_sql(conn, "INSERT INTO t (id, name) VALUES (1, 'BAD')")
    with api.transaction(pg) as conn:
        api.run_sql(conn, "INSERT INTO t (id, name) VALUES (1, 'good')")


@pytest.mark.postgres
def test_postgres_enable_rechecks_a_function_made_volatile(pg: Engine) -> None:
    api.apply(RULE.format(cond="pure(t.name) = 'bad'"), pg)
    api.apply("ALTER ASSERTION r DISABLE; ALTER FUNCTION pure(TEXT) VOLATILE", pg)
    with pytest.raises(ValidationError, match=r"pure\(text\) is VOLATILE"):
        api.apply("ALTER ASSERTION r ENABLE", pg)
    [entry] = api.list_assertions(pg)
    assert not entry.enabled


@pytest.mark.postgres
def test_postgres_compiled_script_refuses_too(pg: Engine, postgres_server: Any) -> None:
    url = pg.url.set(drivername="postgresql").render_as_string(hide_password=False)
    bad = api.compile(RULE.format(cond="shaky(t.name) = 'x'"), "postgresql")
    good = api.compile(RULE.format(cond="pure(t.name) = 'x'"), "postgresql")
    with psycopg.connect(url) as conn:
        with pytest.raises(psycopg.Error, match=r'assertion "r" calls shaky\(text\)'):
            conn.execute(bad)
        conn.rollback()
        conn.execute(good)
        conn.commit()
    assert _catalog(pg) == ["r"]


def _register(engine: Engine, **functions: tuple[int, bool]) -> None:
    @event.listens_for(engine, "connect")
    def add(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        for name, (narg, deterministic) in functions.items():
            dbapi_conn.create_function(name, narg, str.lower, deterministic=deterministic)


def test_sqlite_accepts_deterministic_python_functions(sqlite_engine: Engine) -> None:
    _register(sqlite_engine, norm=(1, True))
    api.apply(
        TABLE + ";\n" + RULE.format(cond="norm(t.name) = 'bad' AND abs(t.id) > 0"), sqlite_engine
    )
    with pytest.raises(AssertionViolation), api.transaction(sqlite_engine) as conn:
        api.run_sql(conn, "INSERT INTO t (id, name) VALUES (1, 'BAD')")


@pytest.mark.parametrize(
    ("cond", "reason"),
    [
        ("shaky(t.name) = 'x'", r"shaky\(\) is not registered as deterministic"),
        ("nowhere(t.name) = 'x'", r"nowhere\(\) is unknown on this connection"),
        ("norm(t.name, 2) = 'x'", r"norm\(\) is not defined for 2 arguments"),
    ],
)
def test_sqlite_refuses_unknown_and_nondeterministic_functions(
    sqlite_engine: Engine, cond: str, reason: str
) -> None:
    _register(sqlite_engine, norm=(1, True), shaky=(1, False))
    api.apply(TABLE, sqlite_engine)
    with pytest.raises(ValidationError, match=rf"assertion r: nondeterministic.*{reason}") as info:
        api.apply(RULE.format(cond=cond), sqlite_engine)
    assert "deterministic=True" in str(info.value)
    assert _catalog(sqlite_engine) == []


def test_sqlite_compile_needs_no_database_for_functions() -> None:
    sql = api.compile(TABLE + ";\n" + RULE.format(cond="norm(t.name) = 'x'"), "sqlite")
    assert "CREATE TRIGGER" in sql
    assert "pragma_function_list" not in sql

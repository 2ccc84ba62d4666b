"""Differential tests: the incremental verdict always equals a full evaluation of the assertion.

A hypothesis state machine runs random INSERT/UPDATE/DELETE statements against a database with
the assertions enforced and against a plain SQLite mirror without them. On the mirror the full
violation queries decide: the statement must have failed on the enforced database exactly when
it leaves a violation; a failed statement changes nothing, so both stay equal.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.apps.assertions.model import parse_assertion
from skybridge.apps.assertions.violation import naive_violation, violation_query
from skybridge.backends.sql import create_sql_engine

SCHEMA = """
CREATE TABLE p (id INTEGER PRIMARY KEY, k INTEGER, flag INTEGER);
CREATE TABLE c (id INTEGER PRIMARY KEY, k INTEGER, v INTEGER)
"""
ASSERTIONS = [
    "CREATE ASSERTION anti CHECK (NOT EXISTS (SELECT 1 FROM c WHERE c.v > 5 AND NOT EXISTS "
    "(SELECT 1 FROM p WHERE p.k = c.k AND p.flag = 1)))",
    "CREATE ASSERTION joined CHECK (ALL (SELECT * FROM c JOIN p ON p.k = c.k WHERE p.flag = 0) "
    "SATISFY (c.v < 8))",
    "CREATE ASSERTION selfjoin CHECK (NOT EXISTS (SELECT 1 FROM p a, p b WHERE a.k = b.k "
    "AND a.id < b.id AND a.flag = 2 AND b.flag = 2))",
]
keys = st.integers(0, 3) | st.none()
ids = st.integers(1, 6)
small = st.integers(0, 9) | st.none()


def statements() -> st.SearchStrategy[str]:
    def sql(value: int | None) -> str:
        return "NULL" if value is None else str(value)

    return st.one_of(
        st.builds(
            lambda i, k, f: f"INSERT INTO p VALUES ({i}, {sql(k)}, {sql(f)})",
            ids,
            keys,
            st.integers(0, 2),
        ),
        st.builds(
            lambda i, k, v: f"INSERT INTO c VALUES ({i}, {sql(k)}, {sql(v)})", ids, keys, small
        ),
        st.builds(
            lambda k, f: f"UPDATE p SET flag = {f} WHERE k = {k}",
            st.integers(0, 3),
            st.integers(0, 2),
        ),
        st.builds(lambda i, k: f"UPDATE p SET k = {sql(k)} WHERE id = {i}", ids, keys),
        st.builds(lambda i, v: f"UPDATE c SET v = {sql(v)} WHERE id = {i}", ids, small),
        st.builds(lambda i, k: f"UPDATE c SET k = {sql(k)} WHERE id <= {i}", ids, keys),
        st.builds(lambda i: f"DELETE FROM p WHERE id = {i}", ids),
        st.builds(lambda k: f"DELETE FROM p WHERE k = {k}", st.integers(0, 3)),
        st.builds(lambda i: f"DELETE FROM c WHERE id >= {i}", ids),
    )


def violated(conn, sql_name: str = "sqlite") -> bool:  # type: ignore[no-untyped-def]
    for text in ASSERTIONS:
        query = violation_query(parse_assertion(text)).sql(sql_name)
        if conn.exec_driver_sql(f"SELECT 1 FROM ({query}) AS q LIMIT 1").first():
            return True
    return False


def snapshot(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        return [
            sorted(tuple(r) for r in conn.exec_driver_sql(f"SELECT * FROM {t}")) for t in ("p", "c")
        ]


def machine_for(real: Engine, mirror: Engine) -> type[RuleBasedStateMachine]:
    class Differential(RuleBasedStateMachine):
        @initialize()
        def reset(self) -> None:
            for engine in (real, mirror):
                with api.transaction(engine) as conn:
                    conn.exec_driver_sql("DELETE FROM c")
                    conn.exec_driver_sql("DELETE FROM p")

        @rule(statement=statements())
        def run(self, statement: str) -> None:
            with mirror.connect() as conn:
                try:
                    conn.exec_driver_sql(statement)
                except Exception:
                    conn.rollback()
                    expected = "error"
                else:
                    expected = "violation" if violated(conn) else "ok"
                    conn.commit() if expected == "ok" else conn.rollback()
            try:
                with api.transaction(real) as conn:
                    api.run_sql(conn, statement)
                got = "ok"
            except AssertionViolation:
                got = "violation"
            except Exception:
                got = "error"
            assert got == expected, statement

        @invariant()
        def same_state(self) -> None:
            assert snapshot(real) == snapshot(mirror)

    return Differential


@pytest.fixture
def mirror(tmp_path) -> Engine:  # type: ignore[no-untyped-def]
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'mirror.sqlite'}")
    api.apply(SCHEMA, engine)
    return engine


def test_sqlite_incremental_equals_full(sqlite_engine: Engine, mirror: Engine) -> None:
    api.apply(SCHEMA + ";\n" + ";\n".join(ASSERTIONS), sqlite_engine)
    machine = machine_for(sqlite_engine, mirror)
    machine.TestCase.settings = settings(
        max_examples=40, stateful_step_count=25, deadline=None, database=None
    )
    machine.TestCase().runTest()


@pytest.mark.postgres
def test_postgres_incremental_equals_full(
    pg_database: Callable[[], Engine], mirror: Engine
) -> None:
    engine = pg_database()
    api.apply(SCHEMA + ";\n" + ";\n".join(ASSERTIONS), engine)
    machine = machine_for(engine, mirror)
    machine.TestCase.settings = settings(
        max_examples=15, stateful_step_count=20, deadline=None, database=None
    )
    machine.TestCase().runTest()


def test_all_satisfy_agrees_with_not_exists_rewrite(sqlite_engine: Engine) -> None:
    """ALL (q) SATISFY (c) lowered by merging == the textbook NOT EXISTS over a derived table."""
    api.apply(SCHEMA, sqlite_engine)
    forms = [
        "CREATE ASSERTION x CHECK (ALL (SELECT * FROM c WHERE c.v > 2) SATISFY (c.k IS NOT NULL AND c.v < 7))",  # noqa: E501
        "CREATE ASSERTION x CHECK (ALL (SELECT c.k AS kk, c.v FROM c) r SATISFY (EXISTS (SELECT 1 FROM p WHERE p.k = r.kk) OR r.v = 1))",  # noqa: E501
        "CREATE ASSERTION x CHECK (ALL (SELECT * FROM p WHERE p.flag = 2) SATISFY "
        "(NOT EXISTS (SELECT 1 FROM c WHERE c.k = p.k AND c.v IS NULL)))",
    ]
    rows = st.lists(st.tuples(ids, keys, small), max_size=6, unique_by=lambda r: r[0])

    @settings(max_examples=40, deadline=None)
    @given(rows, rows)
    def agree(
        ps: list[tuple[int, int | None, int | None]], cs: list[tuple[int, int | None, int | None]]
    ) -> None:
        with sqlite_engine.connect() as conn:
            conn.exec_driver_sql("DELETE FROM p")
            conn.exec_driver_sql("DELETE FROM c")
            for row in ps:
                conn.exec_driver_sql("INSERT INTO p VALUES (?, ?, ?)", row)
            for row in cs:
                conn.exec_driver_sql("INSERT INTO c VALUES (?, ?, ?)", row)
            for form in forms:
                a = parse_assertion(form)
                merged = conn.exec_driver_sql(
                    f"SELECT EXISTS ({violation_query(a).sql('sqlite')})"
                ).scalar()
                naive = conn.exec_driver_sql(
                    f"SELECT EXISTS ({naive_violation(a).sql('sqlite')})"
                ).scalar()
                assert merged == naive, form
            conn.rollback()

    agree()

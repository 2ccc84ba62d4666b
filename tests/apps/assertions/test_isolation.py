"""Write skew on PostgreSQL: two transactions valid alone, jointly violating, never both commit.

The second writer waits for the first (it touches the same key), then gets the violation under
READ COMMITTED (it re-reads after the lock) or a serialization failure under REPEATABLE READ and
SERIALIZABLE (its snapshot predates the first writer's commit), so the client retries. Writers
of the shared table (ticket inserts) do not wait for each other.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation, translate_error
from skybridge.core.errors import TransientError

from .conftest import sla_script

pytestmark = pytest.mark.postgres

SEED = """
INSERT INTO customers VALUES (1, 'Acme');
INSERT INTO engineers VALUES (10, 'Alice', 'SENIOR');
INSERT INTO engineers VALUES (12, 'Carol', 'SENIOR');
INSERT INTO slas VALUES (100, 1, 'ACTIVE', '2026-01-01', '2026-12-31');
INSERT INTO sla_services VALUES (100, 'EMAIL');
INSERT INTO sla_services VALUES (100, 'PHONE');
INSERT INTO tickets VALUES (1, 1, 10, 'CRITICAL', '2026-02-01');
"""
ONE_SENIOR = "CREATE ASSERTION keep_a_senior CHECK (EXISTS (SELECT 1 FROM engineers WHERE seniority = 'SENIOR'))"  # noqa: E501

# (name, first writer, second writer, assertion the second one breaks)
SHAPES = [
    (
        "join",
        ["UPDATE engineers SET seniority = 'JUNIOR' WHERE engineer_id = 12"],
        ["INSERT INTO tickets VALUES (2, 1, 12, 'CRITICAL', '2026-02-02')"],
        "critical_tickets_need_senior_engineer",
    ),
    (
        "anti-join",
        ["DELETE FROM tickets", "UPDATE slas SET status = 'SUSPENDED' WHERE sla_id = 100"],
        ["INSERT INTO tickets VALUES (3, 1, NULL, 'LOW', '2026-02-03')"],
        "ticket_requires_active_sla",
    ),
    (
        "anti-join, ticket first",  # the ticket's writer shares the key, the SLA's waits
        ["DELETE FROM tickets", "INSERT INTO tickets VALUES (3, 1, NULL, 'LOW', '2026-02-03')"],
        ["UPDATE slas SET status = 'SUSPENDED' WHERE sla_id = 100"],
        "ticket_requires_active_sla",
    ),
    (
        "deferred",
        ["DELETE FROM sla_services WHERE service_name = 'EMAIL'"],
        ["DELETE FROM sla_services WHERE service_name = 'PHONE'"],
        "sla_must_have_services",
    ),
    (
        "table-lock",
        ["UPDATE engineers SET seniority = 'MID' WHERE engineer_id = 12"],
        [
            "UPDATE tickets SET assigned_to = NULL",
            "UPDATE engineers SET seniority = 'MID' WHERE engineer_id = 10",
        ],
        "keep_a_senior",
    ),
]
LEVELS = ["READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"]


def _blocked(engine: Engine, pid: int) -> bool:
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT wait_event_type FROM pg_stat_activity WHERE pid = {pid}"
        ).scalar()
    return row == "Lock"


def marking_on(engine: Engine) -> None:
    """Turn marking on before the race, retrying the switch: the transaction that makes it
    may fail to serialize (40001, as documented) when a transaction of another database of
    this server (another test) commits at that moment; that is not what these tests race."""
    for _ in range(10):
        with engine.connect().execution_options(isolation_level="REPEATABLE_READ") as conn:
            try:
                conn.exec_driver_sql("SELECT skybridge_assertion_marks()")
                conn.commit()
                return
            except Exception as exc:
                conn.rollback()
                if "40001" not in str(translate_error(exc)):
                    raise
    raise AssertionError("marking could not be turned on in 10 tries")


def race(
    engine: Engine, level: str, first: list[str], second: list[str]
) -> tuple[BaseException | None, BaseException | None, bool]:
    """Run both writers; returns (first's error, second's error, whether the second waited).

    With deferred checks nobody locks before COMMIT, so the second writer commits first and
    the first writer's COMMIT is the one that waits and loses.
    """
    c1 = engine.connect().execution_options(isolation_level=level.replace(" ", "_"))
    c2 = engine.connect().execution_options(isolation_level=level.replace(" ", "_"))
    outcome: dict[str, BaseException | None] = {}
    try:
        for sql in first:
            api.run_sql(c1, sql)
        pid = c2.exec_driver_sql("SELECT pg_backend_pid()").scalar()  # T2's snapshot starts here

        def second_writer() -> None:
            try:
                for sql in second:
                    api.run_sql(c2, sql)
                c2.commit()
                outcome["error"] = None
            except Exception as exc:
                c2.rollback()
                outcome["error"] = translate_error(exc)

        thread = threading.Thread(target=second_writer)
        thread.start()
        deadline = time.monotonic() + 10
        while thread.is_alive() and not _blocked(engine, pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        waited = thread.is_alive()
        first_error: BaseException | None = None
        try:
            c1.commit()
        except Exception as exc:
            c1.rollback()
            first_error = translate_error(exc)
        thread.join(20)
        assert not thread.is_alive()
        return first_error, outcome["error"], waited
    finally:
        c1.close()
        c2.close()


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(("shape", "first", "second", "broken"), SHAPES, ids=[s[0] for s in SHAPES])
def test_write_skew_never_commits(
    pg_database: Callable[[], Engine],
    level: str,
    shape: str,
    first: list[str],
    second: list[str],
    broken: str,
) -> None:
    engine = pg_database()
    api.apply(sla_script() + ";\n" + SEED + ";\n" + ONE_SENIOR, engine)
    if level != "READ COMMITTED":
        marking_on(engine)
    first_error, second_error, waited = race(engine, level, first, second)
    if shape == "deferred":
        assert second_error is None
        error = first_error
    else:
        assert waited, "the second writer should wait for the first"
        assert first_error is None
        error = second_error
    if level == "READ COMMITTED":
        assert isinstance(error, AssertionViolation), error
        assert error.name == broken
    else:
        assert isinstance(error, TransientError), error
        assert "40001" in str(error)
    assert all(r.ok for r in api.check(engine)), api.check(engine)
    engine.dispose()


def test_writers_of_the_shared_table_do_not_wait_for_each_other(pg_engine: Engine) -> None:
    """Two ticket inserts for one customer share its lock (on different stripes): neither
    waits, both commit. Connections are picked on different stripes (backend pid mod 16)."""
    api.apply(sla_script() + ";\n" + SEED, pg_engine)
    spare, by_stripe = [], {}
    while len(by_stripe) < 2 and len(spare) < 10:  # two pids share a stripe one time in 16
        spare.append(pg_engine.connect())
        by_stripe[spare[-1].exec_driver_sql("SELECT mod(pg_backend_pid(), 16)").scalar()] = spare[
            -1
        ]
    first, second = list(by_stripe.values())[:2]
    try:
        api.run_sql(first, "INSERT INTO tickets VALUES (5, 1, NULL, 'LOW', '2026-03-01')")
        second.exec_driver_sql("SET lock_timeout = '2s'")  # would fail if it had to wait
        api.run_sql(second, "INSERT INTO tickets VALUES (6, 1, NULL, 'LOW', '2026-03-02')")
        second.commit()
        first.commit()
    finally:
        for conn in spare:
            conn.close()
    assert all(r.ok for r in api.check(pg_engine))


def test_set_constraints_immediate(pg_engine: Engine) -> None:
    api.apply(sla_script() + ";\n" + SEED, pg_engine)
    with pytest.raises(AssertionViolation) as info, api.transaction(pg_engine) as conn:  # noqa: PT012 - the error comes from the 2nd statement
        api.run_sql(conn, "INSERT INTO slas VALUES (101, 1, 'ACTIVE', '2026-01-01', '2026-12-31')")
        api.run_sql(conn, "SET CONSTRAINTS sla_must_have_services IMMEDIATE")
    assert info.value.name == "sla_must_have_services"
    assert info.value.rows == [{"slas.sla_id": 101}]
    with api.transaction(pg_engine) as conn:  # deferred: order inside the transaction is free
        api.run_sql(conn, "INSERT INTO slas VALUES (102, 1, 'ACTIVE', '2026-01-01', '2026-12-31')")
        api.run_sql(conn, "INSERT INTO sla_services VALUES (102, 'EMAIL')")
        api.run_sql(conn, "SET CONSTRAINTS ALL IMMEDIATE")  # checks now: passes
        api.run_sql(conn, "SET CONSTRAINTS ALL DEFERRED")
        api.run_sql(conn, "DELETE FROM sla_services WHERE sla_id = 102")
        api.run_sql(conn, "INSERT INTO sla_services VALUES (102, 'PHONE')")
    assert all(r.ok for r in api.check(pg_engine))


def test_ddl_guard_blocks_dropping_a_used_column(pg_engine: Engine) -> None:
    api.apply(sla_script(), pg_engine)
    with pytest.raises(
        Exception, match='assertion "critical_tickets_need_senior_engineer" depends'
    ):
        api.apply("ALTER TABLE engineers DROP COLUMN seniority", pg_engine)
    with pytest.raises(Exception, match="depends on it"):
        api.apply("DROP TABLE sla_services", pg_engine)
    api.apply(
        "ALTER TABLE engineers ADD COLUMN email text; ALTER TABLE engineers DROP COLUMN email",
        pg_engine,
    )

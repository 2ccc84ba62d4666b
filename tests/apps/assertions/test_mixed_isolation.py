"""READ COMMITTED writers take no lock row; mixed isolation levels still never commit write skew.

A READ COMMITTED ticket insert or SLA change only takes an advisory lock. A REPEATABLE READ
writer whose snapshot predates such a commit must still fail to serialize: the first one in a
database turns marking on and finds the unmarked commit; later ones meet the marks.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation, translate_error
from skybridge.apps.assertions.postgres import MARKING
from skybridge.core.errors import TransientError

from .conftest import sla_script

pytestmark = pytest.mark.postgres

SEED = """
INSERT INTO customers VALUES (1, 'Acme');
INSERT INTO customers VALUES (2, 'Globex');
INSERT INTO customers VALUES (3, 'Initech');
INSERT INTO slas VALUES (200, 2, 'ACTIVE', '2026-01-01', '2026-12-31');
INSERT INTO slas VALUES (300, 3, 'ACTIVE', '2026-01-01', '2026-12-31');
INSERT INTO sla_services VALUES (200, 'EMAIL');
INSERT INTO sla_services VALUES (300, 'EMAIL');
"""
LOCK_ROWS = (
    "SELECT count(*) FROM skybridge_assertion_locks WHERE assertion = 'ticket_requires_active_sla'"
)


def _connect(engine: Engine, level: str) -> Connection:
    return engine.connect().execution_options(isolation_level=level)


def _skew(engine: Engine, customer: int, ticket: int, level: str) -> BaseException | None:
    """A ``level`` SLA suspension whose snapshot predates a READ COMMITTED first ticket."""
    late, early = _connect(engine, level), _connect(engine, "READ_COMMITTED")
    try:
        late.exec_driver_sql("SELECT 1")  # the snapshot (REPEATABLE READ) starts here
        api.run_sql(
            early, f"INSERT INTO tickets VALUES ({ticket}, {customer}, NULL, 'LOW', '2026-02-01')"
        )
        early.commit()  # no wait: nobody holds the customer's lock yet
        try:
            api.run_sql(
                late, f"UPDATE slas SET status = 'SUSPENDED' WHERE customer_id = {customer}"
            )
            late.commit()
        except Exception as exc:
            late.rollback()
            return translate_error(exc)
        return None
    finally:
        late.close()
        early.close()


def _marking(engine: Engine) -> int | None:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT pg_sequence_last_value('{MARKING}')").scalar()


def test_read_committed_writers_take_no_lock_row_and_still_stop_skew(pg_engine: Engine) -> None:
    api.apply(sla_script() + ";\n" + SEED, pg_engine)
    error = _skew(pg_engine, customer=2, ticket=10, level="READ_COMMITTED")
    assert isinstance(error, AssertionViolation), error  # it re-read after the ticket
    with pg_engine.connect() as conn:
        assert conn.exec_driver_sql(LOCK_ROWS).scalar() == 0
    assert _marking(pg_engine) is None
    assert all(r.ok for r in api.check(pg_engine))


def test_repeatable_read_after_unmarked_commits_fails_to_serialize(pg_engine: Engine) -> None:
    api.apply(sla_script() + ";\n" + SEED, pg_engine)
    first = _skew(pg_engine, customer=2, ticket=10, level="REPEATABLE_READ")  # turns marking on
    assert isinstance(first, TransientError), first
    assert "40001" in str(first) or "serialize" in str(first)
    assert _marking(pg_engine) is not None
    second = _skew(pg_engine, customer=3, ticket=11, level="REPEATABLE_READ")  # meets a mark
    assert isinstance(second, TransientError), second
    with pg_engine.connect() as conn:
        assert conn.exec_driver_sql(LOCK_ROWS).scalar() > 0  # READ COMMITTED now marks
    assert all(r.ok for r in api.check(pg_engine)), api.check(pg_engine)


def test_an_unmarked_read_committed_sla_change_stops_an_older_repeatable_read_ticket(
    pg_engine: Engine,
) -> None:
    """The other direction: the SLA change commits at READ COMMITTED without a mark, then a
    REPEATABLE READ first ticket whose snapshot still shows the SLA active must not commit."""
    api.apply(sla_script() + ";\n" + SEED, pg_engine)
    late, early = _connect(pg_engine, "REPEATABLE_READ"), _connect(pg_engine, "READ_COMMITTED")
    try:
        late.exec_driver_sql("SELECT 1")  # the snapshot starts here: SLA 200 is ACTIVE
        api.run_sql(early, "UPDATE slas SET status = 'SUSPENDED' WHERE customer_id = 2")
        early.commit()  # no ticket of customer 2 yet: nothing to violate
        with pg_engine.connect() as conn:
            assert conn.exec_driver_sql(LOCK_ROWS).scalar() == 0  # no mark was left
        assert _marking(pg_engine) is None
        with pytest.raises(Exception, match="serialize") as caught:  # the trigger fails it
            api.run_sql(late, "INSERT INTO tickets VALUES (10, 2, NULL, 'LOW', '2026-02-01')")
        late.rollback()
    finally:
        late.close()
        early.close()
    error = translate_error(caught.value)
    assert isinstance(error, TransientError), error
    assert "40001" in str(error) or "serialize" in str(error)
    assert all(r.ok for r in api.check(pg_engine))

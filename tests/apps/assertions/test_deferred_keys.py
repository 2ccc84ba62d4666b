"""A deferred assertion's COMMIT check on PostgreSQL compares the recorded keys (text) with the
anchor column in the column's own type: equal values written differently still match, a key
the column cannot hold matches nothing, and the check reads the touched keys through the
column's index instead of scanning the table."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation

pytestmark = pytest.mark.postgres

NUMERIC = """
CREATE TABLE plans (id numeric(10, 2) PRIMARY KEY);
CREATE TABLE parts (id integer PRIMARY KEY, plan_id numeric(10, 1));
CREATE ASSERTION plan_has_parts CHECK (
  ALL (SELECT * FROM plans) SATISFY (EXISTS (SELECT 1 FROM parts WHERE parts.plan_id = plans.id))
) DEFERRABLE INITIALLY DEFERRED;
"""
WIDER = """
CREATE TABLE plans (id integer PRIMARY KEY);
CREATE TABLE parts (id integer PRIMARY KEY, plan_id bigint);
CREATE ASSERTION plan_has_parts CHECK (
  ALL (SELECT * FROM plans) SATISFY (EXISTS (SELECT 1 FROM parts WHERE parts.plan_id = plans.id))
) DEFERRABLE INITIALLY DEFERRED;
"""


def test_equal_values_written_differently_are_one_key(pg_engine: Engine) -> None:
    api.apply(NUMERIC, pg_engine)
    with api.transaction(pg_engine) as conn:  # 1.00 and 1.0: one value, two texts
        api.run_sql(conn, "INSERT INTO plans VALUES (1.00)")
        api.run_sql(conn, "INSERT INTO parts VALUES (1, 1.0)")
    with pytest.raises(AssertionViolation) as caught, api.transaction(pg_engine) as conn:
        api.run_sql(conn, "DELETE FROM parts WHERE id = 1")  # recorded as the key '1.0'
    assert caught.value.name == "plan_has_parts"
    with api.transaction(pg_engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM parts").scalar() == 1


def test_a_numeric_key_of_an_integer_anchor_is_checked(pg_engine: Engine) -> None:
    api.apply(NUMERIC.replace("id numeric(10, 2) PRIMARY KEY", "id integer PRIMARY KEY"), pg_engine)
    with api.transaction(pg_engine) as conn:
        api.run_sql(conn, "INSERT INTO plans VALUES (1)")
        api.run_sql(conn, "INSERT INTO parts VALUES (1, 1.0)")
        api.run_sql(conn, "INSERT INTO parts VALUES (2, 2.5)")  # no integer plan is 2.5
    with api.transaction(pg_engine) as conn:
        api.run_sql(conn, "DELETE FROM parts WHERE id = 2")
    with pytest.raises(AssertionViolation), api.transaction(pg_engine) as conn:
        api.run_sql(conn, "DELETE FROM parts WHERE id = 1")  # recorded as '1.0': not an integer
    with api.transaction(pg_engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM parts").scalar() == 1


def test_a_key_the_anchor_column_cannot_hold_matches_nothing(pg_engine: Engine) -> None:
    api.apply(WIDER, pg_engine)
    with api.transaction(pg_engine) as conn:
        api.run_sql(conn, "INSERT INTO plans VALUES (1)")
        api.run_sql(conn, "INSERT INTO parts VALUES (1, 1)")
        api.run_sql(conn, "INSERT INTO parts VALUES (2, 10000000000)")  # beyond integer
    with api.transaction(pg_engine) as conn:  # no plan can be that one: nothing to break
        api.run_sql(conn, "DELETE FROM parts WHERE id = 2")
    with pytest.raises(AssertionViolation), api.transaction(pg_engine) as conn:
        api.run_sql(conn, "DELETE FROM parts WHERE id = 1")


def test_the_commit_check_reads_the_touched_key_not_the_table(pg_engine: Engine) -> None:
    api.apply(WIDER, pg_engine)
    with api.transaction(pg_engine) as conn:
        api.run_sql(conn, "INSERT INTO parts SELECT g, g FROM generate_series(1, 20000) g")
        api.run_sql(conn, "INSERT INTO plans SELECT g FROM generate_series(1, 20000) g")
    with pg_engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE plans")
        conn.exec_driver_sql("ANALYZE parts")
        conn.commit()
    read = (
        "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
        "WHERE relname = 'plans'"
    )
    with api.transaction(pg_engine) as conn:  # this transaction's own counts: no stats flush
        api.run_sql(conn, "INSERT INTO plans VALUES (30000)")
        api.run_sql(conn, "INSERT INTO parts VALUES (30000, 30000)")
        before = conn.exec_driver_sql(read).scalar()
        api.run_sql(conn, "SET CONSTRAINTS plan_has_parts IMMEDIATE")  # the COMMIT check, now
        after = conn.exec_driver_sql(read).scalar()
    assert after - before <= 2  # the new plan's row, through the index; not 20,000 rows

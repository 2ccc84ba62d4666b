"""The SLA example replayed on SQLite and PostgreSQL, plus lifecycle and catalog behaviour."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation

from .conftest import EXAMPLE, sla_script


def replay_blocks() -> list[tuple[str | None, list[str]]]:
    blocks: list[tuple[str | None, list[str]]] = []
    for line in (EXAMPLE / "replay.sql").read_text().splitlines():
        if line.startswith("-- txn:"):
            expect = line.split("expect:")[1].split()[0] if "expect:" in line else None
            blocks.append((expect, []))
        elif line.strip() and not line.startswith("--"):
            blocks[-1][1].append(line.rstrip(";"))
    return blocks


def test_replay_the_article(engine: Engine) -> None:
    api.apply(sla_script(), engine)
    outcomes = []
    for expect, statements in replay_blocks():
        try:
            with api.transaction(engine) as conn:
                for sql in statements:
                    api.run_sql(conn, sql)
            outcomes.append((expect, None))
        except AssertionViolation as exc:
            outcomes.append((expect, exc.name))
    assert outcomes == [(e, e) for e, _ in replay_blocks()]
    assert all(r.ok for r in api.check(engine))
    with api.transaction(engine) as conn:
        count = conn.exec_driver_sql("SELECT count(*) FROM tickets").scalar()
    assert count == 2


def test_catalog_list_explain(engine: Engine) -> None:
    api.apply(sla_script(), engine)
    entries = {e.name: e for e in api.list_assertions(engine)}
    assert set(entries) == {
        "ticket_requires_active_sla",
        "critical_tickets_need_senior_engineer",
        "sla_must_have_services",
    }
    crit = entries["critical_tickets_need_senior_engineer"]
    assert crit.lock_scope == "key:engineers.engineer_id,tickets.assigned_to"
    assert {"table": "engineers", "column": "seniority"} in crit.dependencies
    assert "DEFERRABLE INITIALLY DEFERRED" in entries["sla_must_have_services"].state
    plan = api.explain(engine, "ticket_requires_active_sla")
    guards = {(g["table"], g["operation"]) for g in plan["guards"]}
    # Inserting an SLA can never break "every ticket has an active SLA"; deleting one can.
    assert ("slas", "INSERT") not in guards
    assert {("slas", "DELETE"), ("tickets", "INSERT"), ("tickets", "UPDATE")} <= guards
    assert ("tickets", "DELETE") not in guards


def test_validate_novalidate_disable_enable(engine: Engine) -> None:
    api.apply((EXAMPLE / "schema.sql").read_text(), engine)
    api.apply(
        "INSERT INTO customers VALUES (1, 'a'); INSERT INTO tickets VALUES (1, 1, NULL, 'LOW', '2026-01-01')",  # noqa: E501
        engine,
    )
    rule = (EXAMPLE / "assertions.sql").read_text().split(";")[0]
    with pytest.raises(AssertionViolation) as info:
        api.apply(rule, engine)
    assert info.value.name == "ticket_requires_active_sla"
    assert api.list_assertions(engine) == []  # nothing applied
    api.apply(rule + " NOVALIDATE", engine)
    [result] = api.check(engine, "ticket_requires_active_sla")
    assert not result.ok  # pre-existing bad row tolerated, but reported
    with pytest.raises(AssertionViolation):
        api.apply("INSERT INTO tickets VALUES (2, 1, NULL, 'LOW', '2026-01-02')", engine)
    api.apply("ALTER ASSERTION ticket_requires_active_sla DISABLE", engine)
    api.apply("INSERT INTO tickets VALUES (2, 1, NULL, 'LOW', '2026-01-02')", engine)
    with pytest.raises(AssertionViolation):
        api.apply("ALTER ASSERTION ticket_requires_active_sla ENABLE", engine)  # validates
    api.apply("DELETE FROM tickets; ALTER ASSERTION ticket_requires_active_sla ENABLE", engine)
    [entry] = api.list_assertions(engine)
    assert entry.enabled
    assert entry.validated
    api.apply("DROP ASSERTION ticket_requires_active_sla; DROP ASSERTION IF EXISTS nope", engine)
    api.apply("INSERT INTO tickets VALUES (3, 1, NULL, 'LOW', '2026-01-02')", engine)


def test_compile_emits_sql_for_migration_tools() -> None:
    for dialect in ("postgresql", "sqlite"):
        text = api.compile(sla_script(), dialect)
        assert "CREATE TABLE tickets" in text
        assert "skybridge_assertions" in text
    assert "REFERENCING NEW TABLE" in api.compile(sla_script(), "postgresql")
    assert 'CREATE CONSTRAINT TRIGGER "sla_must_have_services"' in api.compile(
        sla_script(), "postgresql"
    )
    assert (
        "RAISE(ABORT, 'assertion \"critical_tickets_need_senior_engineer\" violated')"
        in api.compile(sla_script(), "sqlite")
    )


def test_compiled_sqlite_script_runs(sqlite_engine: Engine) -> None:
    text = api.compile(sla_script(), "sqlite")
    raw = sqlite_engine.raw_connection()
    try:
        raw.driver_connection.executescript(text)  # type: ignore[union-attr]
    finally:
        raw.close()
    with pytest.raises(AssertionViolation) as info:
        api.apply(
            "INSERT INTO customers VALUES (1, 'a'); INSERT INTO tickets VALUES (1, 1, NULL, 'LOW', '2026-01-01')",  # noqa: E501
            sqlite_engine,
        )
    assert info.value.name == "ticket_requires_active_sla"


def test_one_statement_changing_several_customers_slas_names_the_broken_one(
    engine: Engine,
) -> None:
    """The SLA side is checked key by key (PostgreSQL): of three customers whose SLAs one
    statement suspends, the one with a ticket is reported, with that ticket; nothing is
    written."""
    api.apply(sla_script(), engine)
    with api.transaction(engine) as conn:
        for customer in (1, 2, 3):
            api.run_sql(conn, f"INSERT INTO customers VALUES ({customer}, 'c{customer}')")
            api.run_sql(
                conn,
                f"INSERT INTO slas VALUES ({customer}0, {customer}, 'ACTIVE', "
                "'2026-01-01', '2026-12-31')",
            )
            api.run_sql(conn, f"INSERT INTO sla_services VALUES ({customer}0, 'EMAIL')")
        api.run_sql(conn, "INSERT INTO tickets VALUES (7, 2, NULL, 'LOW', '2026-05-01')")
    with pytest.raises(AssertionViolation) as caught, api.transaction(engine) as conn:
        api.run_sql(conn, "UPDATE slas SET status = 'SUSPENDED' WHERE customer_id IN (1, 2, 3)")
    assert caught.value.name == "ticket_requires_active_sla"
    if engine.dialect.name == "postgresql":  # its trigger reports the rows (SQLite's aborts)
        assert [row["tickets.customer_id"] for row in caught.value.rows] == [2]
    with api.transaction(engine) as conn:
        active = conn.exec_driver_sql("SELECT count(*) FROM slas WHERE status = 'ACTIVE'")
        assert active.scalar() == 3

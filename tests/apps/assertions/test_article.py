"""The SLA article's own SQL (Oracle DDL, ``SATISFY`` without parentheses) on PostgreSQL and SQLite.

``data/article_sla.sql`` and ``data/article_sla_data.sql`` are verbatim copies of the article's
SQL blocks. The schema is Oracle DDL, so it is applied with ``--from oracle``; the three
assertions are applied as the article writes them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.cli import app

DATA = Path(__file__).parent / "data"
ARTICLE = DATA / "article_sla.sql"
NAMES = {
    "ticket_requires_active_sla",
    "critical_tickets_need_senior_engineer",
    "sla_must_have_services",
}
#: The article's tickets take created_at from the clock; pinned inside its SLA so the outcome
#: does not depend on the day the test runs.
_TICKET = re.compile(
    r"(INSERT INTO tickets\s*\(customer_id, engineer_id, priority, subject)\)"
    r"\s*VALUES\s*\((.*?)\);",
    re.DOTALL,
)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def transactions() -> list[tuple[str, str | None]]:
    """The data blocks between COMMITs, each with the assertion its ``-- ERROR:`` line names."""
    text = _TICKET.sub(
        r"\1, created_at) VALUES (\2, TIMESTAMP '2026-06-01 09:00:00');",
        (DATA / "article_sla_data.sql").read_text(),
    )
    blocks = re.split(r"^COMMIT;.*$", text, flags=re.MULTILINE)
    out: list[tuple[str, str | None]] = []
    for block, after in zip(blocks, [*blocks[1:], ""], strict=True):
        expected = re.match(r"\s*-- ERROR: assertion (\w+) violated", after)
        if block.strip(" \n-") and "INSERT" in block:
            out.append((block, expected.group(1).lower() if expected else None))
    return out


def test_the_article_schema_and_assertions_apply_unchanged_with_the_cli(engine: Engine) -> None:
    result = CliRunner().invoke(
        app, ["assert", "apply", str(ARTICLE), "--from", "oracle", "--db", _url(engine)]
    )
    assert result.exit_code == 0, result.output
    assert {e.name for e in api.list_assertions(engine)} == NAMES


def test_without_from_oracle_the_refusal_says_to_use_it(engine: Engine) -> None:
    result = CliRunner().invoke(app, ["assert", "apply", str(ARTICLE), "--db", _url(engine)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "--from oracle" in " ".join(result.stderr.split())


def test_the_article_data_replays_with_the_article_outcomes(engine: Engine) -> None:
    api.apply(ARTICLE.read_text(), engine, from_dialect="oracle")
    blocks = transactions()
    assert [expected for _, expected in blocks] == [
        None,
        None,
        "critical_tickets_need_senior_engineer",
        "ticket_requires_active_sla",
    ]
    for block, expected in blocks:
        if expected is None:
            api.apply(block, engine, from_dialect="oracle")
            continue
        with pytest.raises(AssertionViolation) as info:
            api.apply(block, engine, from_dialect="oracle", source="data.sql")
        assert info.value.name == expected
        assert info.value.rows
    assert all(result.ok for result in api.check(engine))
    with api.transaction(engine) as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM tickets").scalar() == 1


def test_a_violation_inside_a_transaction_names_its_rows(engine: Engine) -> None:
    api.apply(ARTICLE.read_text(), engine, from_dialect="oracle")
    for block, _ in transactions()[:2]:  # the SLA, then a ticket within it
        api.apply(block, engine, from_dialect="oracle")
    broken = "UPDATE tickets SET created_at = '2020-01-01 09:00:00'"  # before its SLA began
    with pytest.raises(AssertionViolation) as info, api.transaction(engine) as conn:
        api.run_sql(conn, broken)
    assert info.value.name == "ticket_requires_active_sla"
    assert info.value.rows  # as apply reports them, not just the name
    with api.transaction(engine) as conn:  # nothing kept
        assert (
            conn.exec_driver_sql("SELECT count(*) FROM slas WHERE end_date < '2021-01-01'").scalar()
            == 0
        )


def test_a_deferred_rule_of_the_article_fails_at_commit(engine: Engine) -> None:
    api.apply(ARTICLE.read_text(), engine, from_dialect="oracle")
    first = transactions()[0][0].split("-- Insert SLA")[0]
    api.apply(first, engine, from_dialect="oracle")
    sla = "INSERT INTO slas (customer_id, sla_tier, start_date, end_date) VALUES (2, 'gold', DATE '2025-01-01', DATE '2026-12-31')"  # noqa: E501
    with pytest.raises(AssertionViolation, match="sla_must_have_services"):
        api.apply(sla, engine, from_dialect="oracle")

"""Every statement runs under a statement timeout; hitting it is a clear error, nothing applied."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import StatementTimeout
from skybridge.cli import app

#: Seconds of work on either database (a recursive count on SQLite, a sleep on PostgreSQL).
SLOW = {
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000000) "
    "SELECT count(*) FROM c",
    "postgresql": "SELECT pg_sleep(5)",
}
#: About half a second of work.
MEDIUM = {
    "sqlite": SLOW["sqlite"].replace("50000000", "2000000"),
    "postgresql": "SELECT pg_sleep(0.5)",
}


def _slow(engine: Engine) -> str:
    return SLOW[engine.dialect.name]


def test_a_slow_statement_in_apply_is_cancelled_and_nothing_applied(engine: Engine) -> None:
    script = f"CREATE TABLE kept (a INTEGER);\n{_slow(engine)}"
    started = time.monotonic()
    with pytest.raises(StatementTimeout, match=r"line 2: a statement ran longer than") as info:
        api.apply(script, engine, timeout=0.3)
    assert time.monotonic() - started < 3
    assert "(0.3 s)" in info.value.message
    assert "--statement-timeout" in str(info.value.hint)
    with api.transaction(engine) as conn:
        assert not conn.dialect.has_table(conn, "kept")


def test_the_timeout_applies_to_each_statement_of_a_transaction(engine: Engine) -> None:
    def two_statements() -> None:
        with api.transaction(engine, timeout=0.3) as conn:
            api.run_sql(conn, "SELECT 1")
            api.run_sql(conn, _slow(engine))

    with pytest.raises(StatementTimeout):
        two_statements()


def test_the_limit_is_lifted_after_the_transaction(engine: Engine) -> None:
    """The SQLite progress handler must not stay on the pooled connection."""
    with pytest.raises(StatementTimeout), api.transaction(engine, timeout=0.2) as conn:
        api.run_sql(conn, _slow(engine))
    with api.transaction(engine, timeout=None) as conn:
        time.sleep(0.3)  # well past the old deadline
        api.run_sql(conn, MEDIUM[engine.dialect.name])


def test_the_deadline_restarts_with_each_statement(sqlite_engine: Engine) -> None:
    with api.transaction(sqlite_engine, timeout=0.5) as conn:
        for _ in range(4):
            time.sleep(0.2)
            api.run_sql(conn, "SELECT 1")


def test_cli_statement_timeout_option(tmp_path: Path) -> None:
    script = tmp_path / "slow.sql"
    script.write_text(SLOW["sqlite"])
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    result = CliRunner().invoke(
        app, ["assert", "apply", str(script), "--db", url, "--statement-timeout", "0.2"]
    )
    assert result.exit_code == 1, result.output
    assert f"{script}:1: a statement ran longer than the statement timeout (0.2 s)" in (
        " ".join(result.stderr.split())
    )
    assert "Traceback" not in result.output

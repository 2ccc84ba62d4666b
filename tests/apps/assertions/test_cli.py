"""``skybridge assert ...`` through Typer's CliRunner: SQLite files in tmp dirs, one PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from skybridge.cli import app

from .conftest import sla_script

runner = CliRunner()
BAD_TICKET = "INSERT INTO tickets VALUES (900, 2, NULL, 'LOW', '2026-01-05')"


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "sla.sql"
    path.write_text(sla_script())
    return path


@pytest.fixture
def db(tmp_path: Path, script: Path) -> str:
    """A SQLite database with the SLA schema, its three assertions and valid reference data."""
    url = f"sqlite:///{tmp_path / 'sla.db'}"
    result = run("assert", "apply", str(script), "--db", url)
    assert result.exit_code == 0, result.output
    _sqlite(tmp_path / "sla.db", "INSERT INTO customers VALUES (1, 'Acme'), (2, 'Globex')")
    return url


def run(*args: str) -> object:
    return runner.invoke(app, list(args))


def _sqlite(path: Path, sql: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _db_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def _violate(url: str) -> None:
    """Disable the ticket rule, write a ticket breaking it (Globex has no SLA)."""
    assert run("assert", "disable", "ticket_requires_active_sla", "--db", url).exit_code == 0  # type: ignore[attr-defined]
    _sqlite(_db_path(url), BAD_TICKET)


def test_apply_runs_ddl_and_assertions_and_says_what_it_created(
    script: Path, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    result = run("assert", "apply", str(script), "--db", url)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "CREATE TABLE tickets" in out
    assert "validated sla_must_have_services" in out
    assert "3 assertions in the catalog" in out


def test_list_json_describes_every_assertion(db: str) -> None:
    result = run("assert", "list", "--db", db, "--json")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    rows = {r["name"]: r for r in json.loads(result.stdout)}  # type: ignore[attr-defined]
    assert set(rows) == {
        "ticket_requires_active_sla",
        "critical_tickets_need_senior_engineer",
        "sla_must_have_services",
    }
    assert rows["sla_must_have_services"]["initially_deferred"] is True
    assert rows["critical_tickets_need_senior_engineer"]["tables"] == ["engineers", "tickets"]
    assert rows["ticket_requires_active_sla"]["lock_scope"].startswith("key:")


def test_list_table_is_human_readable(db: str) -> None:
    out = run("assert", "list", "--db", db).stdout  # type: ignore[attr-defined]
    assert "Assertions" in out
    assert "deferred" in out


def test_check_passes_then_fails_listing_the_offending_rows(db: str) -> None:
    clean = run("assert", "check", "--db", db)
    assert clean.exit_code == 0, clean.output  # type: ignore[attr-defined]
    assert "holds" in clean.stdout  # type: ignore[attr-defined]
    _violate(db)
    failed = run("assert", "check", "--db", db)
    assert failed.exit_code == 1  # type: ignore[attr-defined]
    assert "1 violating row" in failed.stdout  # type: ignore[attr-defined]
    assert "1 violating rows" not in failed.stdout  # type: ignore[attr-defined]
    assert "2026-01-05" in failed.stdout  # type: ignore[attr-defined]
    as_json = run("assert", "check", "ticket_requires_active_sla", "--db", db, "--json")
    assert as_json.exit_code == 1  # type: ignore[attr-defined]
    [result] = json.loads(as_json.stdout)  # type: ignore[attr-defined]
    assert result["ok"] is False
    assert result["rows"] == [{"tickets.created_on": "2026-01-05", "tickets.customer_id": 2}]
    other = run("assert", "check", "critical_tickets_need_senior_engineer", "--db", db)
    assert other.exit_code == 0  # type: ignore[attr-defined]


def test_enable_validate_refuses_bad_data_novalidate_accepts_it(db: str) -> None:
    _violate(db)
    refused = run("assert", "enable", "ticket_requires_active_sla", "--db", db)
    assert refused.exit_code == 1  # type: ignore[attr-defined]
    assert 'assertion "ticket_requires_active_sla" violated' in refused.stderr  # type: ignore[attr-defined]
    listed = json.loads(run("assert", "list", "--db", db, "--json").stdout)  # type: ignore[attr-defined]
    assert not next(r for r in listed if r["name"] == "ticket_requires_active_sla")["enabled"]
    accepted = run("assert", "enable", "ticket_requires_active_sla", "--novalidate", "--db", db)
    assert accepted.exit_code == 0, accepted.output  # type: ignore[attr-defined]
    with pytest.raises(sqlite3.IntegrityError, match="ticket_requires_active_sla"):
        _sqlite(_db_path(db), BAD_TICKET.replace("900", "901"))


def test_drop_removes_the_assertion_and_its_enforcement(db: str) -> None:
    assert run("assert", "drop", "ticket_requires_active_sla", "--db", db).exit_code == 0  # type: ignore[attr-defined]
    names = [r["name"] for r in json.loads(run("assert", "list", "--db", db, "--json").stdout)]  # type: ignore[attr-defined]
    assert "ticket_requires_active_sla" not in names
    _sqlite(_db_path(db), BAD_TICKET)  # no longer refused


def test_explain_shows_guarded_operations(db: str) -> None:
    result = run("assert", "explain", "critical_tickets_need_senior_engineer", "--db", db)
    assert result.exit_code == 0  # type: ignore[attr-defined]
    out = result.stdout  # type: ignore[attr-defined]
    assert "Guarded operations" in out
    assert "engineers" in out
    assert "UPDATE" in out
    info = json.loads(
        run(
            "assert", "explain", "critical_tickets_need_senior_engineer", "--db", db, "--json"
        ).stdout  # type: ignore[attr-defined]
    )
    assert {(g["table"], g["operation"]) for g in info["guards"]} >= {
        ("tickets", "INSERT"),
        ("engineers", "UPDATE"),
    }
    assert all(s.startswith("CREATE TRIGGER") for s in info["statements"])


def test_compiled_sqlite_script_enforces_the_assertions(script: Path, tmp_path: Path) -> None:
    out = tmp_path / "compiled.sql"
    result = run("assert", "compile", str(script), "--dialect", "sqlite", "-o", str(out))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    conn = sqlite3.connect(tmp_path / "migrated.db")
    conn.executescript(out.read_text())
    conn.execute("INSERT INTO customers VALUES (2, 'Globex')")
    with pytest.raises(sqlite3.IntegrityError, match="ticket_requires_active_sla"):
        conn.execute(BAD_TICKET)
    conn.close()


def test_compile_postgresql_to_stdout(script: Path) -> None:
    result = run("assert", "compile", str(script), "--dialect", "postgresql")
    assert result.exit_code == 0  # type: ignore[attr-defined]
    assert "REFERENCING NEW TABLE AS" in result.stdout  # type: ignore[attr-defined]
    assert 'CREATE CONSTRAINT TRIGGER "sla_must_have_services"' in result.stdout  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("sql", "args", "message"),
    [
        (
            "CREATE ASSERTION fresh CHECK (NOT EXISTS (SELECT 1 FROM tickets "
            "WHERE created_on > CURRENT_DATE))",
            ["apply"],
            "nondeterministic",
        ),
        ("CREATE TABLE (oops", ["apply"], "the database rejected a statement"),
        ("CREATE ASSERTION broken CHECK (NOT EXISTS (SELECT FROM", ["apply"], "cannot parse"),
        ("ALTER ASSERTION nobody DISABLE", ["apply"], "nobody does not exist"),
        ("SELECT 1", ["compile", "--dialect", "oracle"], "unsupported dialect"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(
    db: str, tmp_path: Path, sql: str, args: list[str], message: str
) -> None:
    path = tmp_path / "bad.sql"
    path.write_text(sql)
    extra = ["--db", db] if args[0] == "apply" else []
    result = run("assert", args[0], str(path), *args[1:], *extra)
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert message in result.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", ["check", "explain", "disable", "drop"])
def test_unknown_assertion_exits_2(db: str, command: str) -> None:
    result = run("assert", command, "nobody", "--db", db)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "assertion nobody does not exist" in result.stderr  # type: ignore[attr-defined]


def test_db_defaults_to_the_configured_sql_backend(script: Path, workdir: Path) -> None:
    (workdir / "skybridge.toml").write_text(
        f'[backends]\nsql = "sqlite:///{workdir / "configured.db"}"\n'
    )
    assert run("assert", "apply", str(script)).exit_code == 0  # type: ignore[attr-defined]
    assert (workdir / "configured.db").is_file()
    listed = json.loads(run("assert", "list", "--json").stdout)  # type: ignore[attr-defined]
    assert len(listed) == 3


@pytest.mark.postgres
def test_apply_and_check_on_postgresql(pg_database: Callable[[], Engine], script: Path) -> None:
    engine = pg_database()
    url = engine.url.render_as_string(hide_password=False)
    applied = run("assert", "apply", str(script), "--db", url)
    assert applied.exit_code == 0, applied.output  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO customers VALUES (2, 'Globex')")
    with pytest.raises(Exception, match="ticket_requires_active_sla"), engine.begin() as conn:
        conn.exec_driver_sql(BAD_TICKET)
    assert run("assert", "check", "--db", url).exit_code == 0  # type: ignore[attr-defined]
    assert run("assert", "disable", "ticket_requires_active_sla", "--db", url).exit_code == 0  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.exec_driver_sql(BAD_TICKET)
    failed = run("assert", "check", "ticket_requires_active_sla", "--db", url, "--json")
    assert failed.exit_code == 1  # type: ignore[attr-defined]
    assert json.loads(failed.stdout)[0]["rows"][0]["tickets.customer_id"] == 2  # type: ignore[attr-defined]


def test_app_spec_cli_name_names_the_group_and_is_validated() -> None:
    from skybridge.apps.assertions.manifest import APP
    from skybridge.apps.kit.manifest import AppSpec
    from skybridge.core.errors import ConfigError

    assert (APP.name, APP.command) == ("assertions", "assert")
    assert AppSpec(name="x", title="X", description="d").command == "x"
    with pytest.raises(ConfigError, match="app command"):
        AppSpec(name="x", title="X", description="d", cli_name="Not Valid")

"""A failed apply names the statement (file:line), the assertion and the violating rows."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from typer.testing import CliRunner

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation, ScriptRejected
from skybridge.apps.assertions.manifest import APP
from skybridge.backends.sql import create_sql_engine
from skybridge.cli import app
from skybridge.core.config import load_settings
from skybridge.server import create_app

from .conftest import schema_script, sla_script

DATA = """INSERT INTO customers VALUES (1, 'Acme');
INSERT INTO customers VALUES (2, 'Globex');
INSERT INTO slas VALUES (100, 1, 'ACTIVE', '2026-01-01', '2026-12-31');
INSERT INTO sla_services VALUES (100, 'EMAIL');
-- Globex has no SLA:
INSERT INTO tickets
  VALUES (1002, 2, NULL, 'LOW', '2026-03-03');
"""
TICKET_ROW = {"tickets.created_on": "2026-03-03", "tickets.customer_id": 2}


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """A fresh database (SQLite, then PostgreSQL) holding the sla schema."""
    api.apply(sla_script(), engine)
    return engine


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_python_api_error_carries_statement_line_and_rows(engine: Engine) -> None:
    with pytest.raises(AssertionViolation) as info:
        api.apply(DATA, engine, source="data.sql")
    exc = info.value
    assert exc.name == "ticket_requires_active_sla"
    assert exc.rows == [TICKET_ROW]
    assert exc.statement is not None
    assert (exc.statement.source, exc.statement.line) == ("data.sql", 6)
    assert exc.message.startswith(
        'data.sql:6: assertion "ticket_requires_active_sla" violated by INSERT INTO tickets '
        "VALUES (1002, 2, NULL, 'LOW', '2026-03-03')"
    )
    assert exc.details()["line"] == 6
    with api.transaction(engine) as conn:  # nothing of the script was applied
        assert conn.exec_driver_sql("SELECT count(*) FROM customers").scalar() == 0


def test_cli_names_file_line_assertion_and_rows(engine: Engine, tmp_path: Path) -> None:
    script = tmp_path / "data.sql"
    script.write_text(DATA)
    result = CliRunner().invoke(app, ["assert", "apply", str(script), "--db", _url(engine)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    err = " ".join(result.stderr.split())
    assert f'{script}:6: assertion "ticket_requires_active_sla" violated by INSERT INTO' in err
    assert "ticket_requires_active_sla: violating rows" in result.stdout
    assert "2026-03-03" in result.stdout


def test_deferred_violation_is_reported_at_commit_with_rows(engine: Engine) -> None:
    script = "INSERT INTO customers VALUES (2, 'Globex');\n" + (
        "INSERT INTO slas VALUES (101, 2, 'ACTIVE', '2026-01-01', '2026-12-31')"
    )
    with pytest.raises(AssertionViolation) as info:
        api.apply(script, engine, source="sla.sql")
    exc = info.value
    assert exc.message.startswith(
        'sla.sql:2: assertion "sla_must_have_services" violated at COMMIT'
    )
    assert exc.rows == [{"slas.sla_id": 101}]
    assert "deferred" in str(exc.hint)


def test_a_refused_statement_names_its_line(engine: Engine) -> None:
    with pytest.raises(ScriptRejected, match=r"^x.sql:3: the database rejected a statement"):
        api.apply("SELECT 1;\nSELECT 2;\nSELECT * FROM nowhere", engine, source="x.sql")


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    with TestClient(create_app(load_settings(), apps=[APP])) as test_client:
        yield test_client


def test_api_error_json_names_statement_line_assertion_and_rows(client: TestClient) -> None:
    url = client.app.state.skybridge.settings.backends.sql  # type: ignore[attr-defined]
    owner = create_sql_engine(url)
    try:
        api.apply(schema_script() + ";\n" + DATA.split("-- Globex")[0], owner)
        api.apply("INSERT INTO tickets VALUES (1002, 2, NULL, 'LOW', '2026-03-03')", owner)
    finally:
        owner.dispose()
    _, token = client.app.state.skybridge.tokens.create("t", ["admin"])  # type: ignore[attr-defined]
    rule = (
        "-- the rule of the SLA example\n"
        + (Path(__file__).parents[3] / "examples/sla/assertions.sql").read_text().split(";")[0]
    )
    response = client.post(
        "/api/assertions/apply",
        json={"sql": rule},
        headers={"Authorization": f"Bearer {token.reveal()}"},
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["assertion"] == "ticket_requires_active_sla"
    assert body["rows"] == [TICKET_ROW]
    assert body["line"] == 3  # the CREATE ASSERTION, after two comment lines
    assert body["statement"].startswith("CREATE ASSERTION ticket_requires_active_sla CHECK (")
    assert body["message"].startswith('line 3: assertion "ticket_requires_active_sla" violated')
    assert json.dumps(body).isascii()

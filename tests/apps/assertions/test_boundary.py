"""The boundary around user SQL: assertion statements only over HTTP, no side-effecting calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.manifest import APP
from skybridge.core.config import Settings, load_settings
from skybridge.core.errors import ValidationError
from skybridge.server import create_app

from .conftest import schema_script

RULE = "CREATE ASSERTION a CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE ticket_id < 0))"
REFUSED_STATEMENTS = [
    ("CREATE TABLE x (a INTEGER)", "CREATE statement refused"),
    ("INSERT INTO customers VALUES (7, 'Mallory')", "INSERT statement refused"),
    ("DELETE FROM skybridge_api_tokens", "DELETE statement refused"),
    ("UPDATE skybridge_api_tokens SET revoked_at = NULL", "UPDATE statement refused"),
    ("ATTACH DATABASE '{work}/evil.db' AS evil", "ATTACH opens (or creates) other database files"),
    ("PRAGMA foreign_keys = OFF", "PRAGMA changes how SQLite works"),
    ("COPY tickets TO PROGRAM 'touch {work}/owned'", "COPY reads and writes server files"),
    ("SELECT 1", "SELECT statement refused"),
]
SIDE_EFFECTS = [
    ("pg_read_file('/etc/hostname') <> ''", "pg_read_file() reads or writes files"),
    ("pg_catalog.pg_sleep(10) IS NULL", "pg_sleep() sleeps"),
    ("lo_import('/etc/passwd') > 0", "lo_import() uses large objects"),
    ("dblink('host=x', 'SELECT 1') IS NULL", "dblink() opens connections"),
    ("load_extension('evil') IS NULL", "load_extension() loads native code"),
    ("query_to_xml('DELETE FROM tickets', true, true, '') IS NULL", "runs SQL given as text"),
]
FORBIDDEN_TABLES = [
    ("skybridge_api_tokens", "holds skybridge's own state"),
    ("pg_catalog.pg_authid", "pg_catalog is a system schema"),
    ("sqlite_master", "is a SQLite system table"),
    ("pragma_table_info('tickets')", "a table-valued function is not a table"),
    ("anomaly_incidents", "it holds the anomaly app's own state, not your data"),
    ('"RAW_EVENTS"', "it holds the anomaly app's own state, not your data"),
    ("public.anomaly_job_state", "it holds the anomaly app's own state, not your data"),
]


def _rule_reading(source: str) -> str:
    return f"CREATE ASSERTION peek CHECK (NOT EXISTS (SELECT * FROM {source}))"


def _rule_calling(call: str) -> str:
    return f"CREATE ASSERTION r CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE {call}))"


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """A fresh database (SQLite, then PostgreSQL) holding the schema schema."""
    api.apply(schema_script(), engine)
    return engine


@pytest.mark.parametrize(("sql", "reason"), REFUSED_STATEMENTS)
def test_only_assertion_statements_pass_and_nothing_runs(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sql: str, reason: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    with pytest.raises(ValidationError, match="line 2: ") as info:
        api.apply_assertions_only(f"{RULE};\n{sql.format(work=work)}", engine)
    assert reason in info.value.message
    assert "skybridge assert apply" in str(info.value.hint)
    assert api.list_assertions(engine) == []  # the valid first statement did not run either
    assert list(work.iterdir()) == []  # ATTACH made no file, COPY ran no program


@pytest.mark.parametrize(("call", "reason"), SIDE_EFFECTS)
def test_side_effecting_functions_are_refused_in_every_mode(
    engine: Engine, call: str, reason: str
) -> None:
    for apply in (api.apply, api.apply_assertions_only):
        with pytest.raises(ValidationError, match="may only read its tables") as info:
            apply(_rule_calling(call), engine)
        assert reason in info.value.message
    assert api.list_assertions(engine) == []


@pytest.mark.parametrize(("source", "reason"), FORBIDDEN_TABLES)
def test_assertions_over_http_cannot_read_system_or_service_tables(
    engine: Engine, source: str, reason: str
) -> None:
    with pytest.raises(ValidationError, match="cannot read") as info:
        api.apply_assertions_only(_rule_reading(source), engine)
    assert reason in info.value.message


def test_the_apps_declare_the_tables_they_keep_their_state_in() -> None:
    from skybridge.apps.anomaly.table import INCIDENTS, JOB_STATE, RAW_EVENTS
    from skybridge.apps.assertions.boundary import app_tables

    owned = app_tables()
    for table in (RAW_EVENTS, INCIDENTS, JOB_STATE):
        assert owned[table.name] == "anomaly"


def test_the_owner_still_runs_ddl_and_dml(engine: Engine) -> None:
    api.apply("CREATE TABLE extra (a INTEGER); INSERT INTO extra VALUES (1)", engine)
    api.apply_assertions_only(RULE, engine)
    assert [e.name for e in api.list_assertions(engine)] == ["a"]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return load_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, apps=[APP])) as test_client:
        yield test_client


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    _, token = client.app.state.skybridge.tokens.create("tester", ["admin"])  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token.reveal()}"}


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM skybridge_api_tokens",
        "ATTACH DATABASE 'evil.db' AS evil",
        _rule_reading("skybridge_api_tokens"),
        "CREATE TABLE t (a INTEGER);\nCREATE ASSERTION a CHECK (NOT EXISTS (SELECT 1 FROM t))",
    ],
)
def test_http_apply_refuses_with_422_and_leaks_nothing(
    client: TestClient, auth: dict[str, str], settings: Settings, sql: str
) -> None:
    response = client.post("/api/assertions/apply", json={"sql": sql}, headers=auth)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert "hash" not in response.text
    assert "rows" not in body
    assert client.get("/api/assertions", headers=auth).json() == []
    assert not Path("evil.db").exists()
    assert client.get("/api/assertions", headers=auth).status_code == 200  # token still valid


def test_http_apply_runs_assertion_statements(client: TestClient, auth: dict[str, str]) -> None:
    url = client.app.state.skybridge.settings.backends.sql  # type: ignore[attr-defined]
    from skybridge.backends.sql import create_sql_engine

    engine = create_sql_engine(url)
    try:
        api.apply(schema_script(), engine)
    finally:
        engine.dispose()
    response = client.post("/api/assertions/apply", json={"sql": RULE}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json()["assertions"] == ["a"]

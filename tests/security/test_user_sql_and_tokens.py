"""The attacks of the security review, replayed black-box against ``skybridge up``: one ordinary
token (and even an admin one) must not reach the service's own state through user SQL, run
programs or read files on the database server, mint or revoke tokens, or break concurrent
applies. Run on SQLite and on embedded PostgreSQL (connected as a role without superuser).
"""

from __future__ import annotations

import concurrent.futures
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from skybridge.testing.browser import running_service
from skybridge.testing.process import run_cli

SCHEMA = """
CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR(40));
CREATE TABLE tickets (ticket_id INTEGER PRIMARY KEY, customer_id INTEGER, opened VARCHAR(20));
"""
RULE = "CREATE ASSERTION {name} CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE ticket_id < 0))"
ATTACKS = [
    "SELECT token_hash FROM skybridge_api_tokens",
    "UPDATE skybridge_api_tokens SET revoked_at = NULL",
    "INSERT INTO skybridge_api_tokens (name, hash) VALUES ('mallory', 'x')",
    "ATTACH DATABASE '{work}/evil.db' AS evil",
    "COPY tickets FROM PROGRAM 'id > {work}/owned'",
    "PRAGMA writable_schema = ON",
    "CREATE ASSERTION r CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE "
    "pg_read_file('/etc/hostname') <> ''))",
    "CREATE ASSERTION s CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE pg_sleep(15) IS NULL))",
    "CREATE ASSERTION t CHECK (NOT EXISTS (SELECT * FROM skybridge_api_tokens))",
]


@dataclass
class Target:
    url: str
    work: Path
    sql_url: str
    tokens: dict[str, str]

    def call(self, method: str, path: str, role: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)


def _cli(work: Path, env: dict[str, str], *args: str) -> str:
    return run_cli(work, *args, env=env, timeout=120, check=True).stdout


def _restricted_postgres(admin_url: str) -> str:
    """A database owned by a new role without superuser, file or program rights."""
    role, password, db = f"app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, f"d{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN NOSUPERUSER PASSWORD '{password}'")
        conn.exec_driver_sql(f"CREATE DATABASE {db} OWNER {role}")
    admin.dispose()
    host = admin_url.split("@", 1)[1].rsplit("/", 1)[0]
    return f"postgresql://{role}:{password}@{host}/{db}"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    """One service per database for the module: the attacks leave nothing behind."""
    tmp_path = tmp_path_factory.mktemp(f"attacks-{request.param}")
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    if request.param == "postgres":
        env["SKYBRIDGE__BACKENDS__SQL"] = _restricted_postgres(
            request.getfixturevalue("postgres_server").url
        )
    sql_url = env.get("SKYBRIDGE__BACKENDS__SQL", f"sqlite:///{work}/.skybridge/skybridge.db")
    (work / "schema.sql").write_text(SCHEMA)
    _cli(work, env, "assert", "apply", "schema.sql")  # the database owner, through the CLI
    tokens = {
        role: _cli(work, env, "token", "create", role, "--scope", role).split()[-1]
        for role in ("read", "operate", "admin")
    }
    with running_service(work, tmp_path / "service.log", env=env, ready_timeout=60) as url:
        yield Target(url.rstrip("/"), work, sql_url, tokens)


@pytest.mark.parametrize("role", ["read", "operate"])
def test_an_ordinary_token_cannot_apply_sql_or_manage_tokens(target: Target, role: str) -> None:
    body = {"sql": RULE.format(name="mine")}
    assert target.call("POST", "/api/assertions/apply", role, json=body).status_code == 403
    minted = target.call("POST", "/api/tokens", role, json={"name": "mine", "scopes": ["admin"]})
    assert minted.status_code == 403
    assert target.call("DELETE", "/api/tokens/admin", role).status_code == 403
    assert target.call("GET", "/api/tokens", role).status_code == 403
    assert target.call("GET", "/api/whoami", "admin").status_code == 200  # admin still works


@pytest.mark.parametrize("attack", ATTACKS)
def test_user_sql_never_reaches_the_service_or_the_server(target: Target, attack: str) -> None:
    sql = attack.format(work=target.work)
    response = target.call("POST", "/api/assertions/apply", "admin", json={"sql": sql})
    assert response.status_code == 422, response.text
    assert "fix the SQL" not in response.json()["message"]
    assert not (target.work / "owned").exists()
    assert not (target.work / "evil.db").exists()
    assert target.call("GET", "/api/whoami", "read").status_code == 200


def test_the_user_database_holds_no_token_hashes(target: Target) -> None:
    url = target.sql_url.replace("postgresql://", "postgresql+psycopg://")
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert "tickets" in tables
    assert not any("token" in name for name in tables)


def test_concurrent_applies_serialise_and_never_blame_the_sql(target: Target) -> None:
    def apply(i: int) -> httpx.Response:
        sql = RULE.format(name=f"rule_{i}")
        return target.call("POST", "/api/assertions/apply", "admin", json={"sql": sql})

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(apply, range(8)))
    for response in responses:
        assert response.status_code in (200, 409, 503), response.text
        assert "fix the SQL" not in response.text
    listed = target.call("GET", "/api/assertions", "read").json()
    done = [r for r in responses if r.status_code == 200]
    assert len({a["name"] for a in listed} & {f"rule_{i}" for i in range(8)}) == len(done)


def test_assertion_names_are_quoted_not_spliced(target: Target) -> None:
    dashed = target.call(
        "POST", "/api/assertions/apply", "admin", json={"sql": RULE.format(name='"no-neg"')}
    )
    assert dashed.status_code == 200, dashed.text
    crafted = RULE.format(name='"x""; DROP TABLE tickets; --"')
    response = target.call("POST", "/api/assertions/apply", "admin", json={"sql": crafted})
    assert response.status_code in (200, 422), response.text
    listed = target.call("GET", "/api/assertions", "read")
    assert listed.status_code == 200
    engine = create_engine(target.sql_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        assert "tickets" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_data_files_are_private(target: Target) -> None:
    home = target.work / ".skybridge"
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for name in ("service.db", "kv.db"):
        path = home / name
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert (home / "service.db").exists()

"""Command-line errors say what is wrong and what to do, with the right exit code, no traceback.

A database that cannot be reached is not blamed on the SQL; only PostgreSQL and SQLite URLs are
accepted; a SQLite path in a missing folder creates nothing; parse errors carry no terminal
escape codes, on the command line and in the HTTP API.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from skybridge.apps.assertions.manifest import APP
from skybridge.cli import app
from skybridge.core.config import load_settings
from skybridge.server import create_app

runner = CliRunner()
ESC = "\x1b"
BROKEN = "CREATE ASSERTION broken CHECK (NOT EXISTS (SELECT FROM"


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["assert", *args])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.stderr.split())


def test_a_refused_connection_says_the_database_is_unreachable() -> None:
    url = f"postgresql://app:s3cret@127.0.0.1:{_closed_port()}/x"
    code, err = _run("list", "--db", url)
    assert code == 1
    assert "is unreachable" in err
    assert "Connection refused" in err
    assert "postgresql://app:***@127.0.0.1" in err
    assert "s3cret" not in err
    assert "--db" in err
    assert "fix the SQL" not in err


def test_a_host_that_does_not_resolve_is_a_config_error() -> None:
    code, err = _run("list", "--db", "postgresql://bob:hunter2@nosuchhost.invalid/db")
    assert code == 2
    assert err.startswith("error: --db: cannot connect to the database at postgresql://bob:***@")
    assert "nosuchhost.invalid" in err
    assert "hunter2" not in err
    assert "check the host" in err


@pytest.mark.postgres
def test_an_unknown_database_is_a_config_error_naming_the_setting(postgres_server) -> None:  # type: ignore[no-untyped-def]
    url = postgres_server.url.rsplit("/", 1)[0] + "/no_such_database"
    code, err = _run("list", "--db", url)
    assert code == 2
    assert err.startswith("error: --db: cannot connect to the database at postgresql://")
    assert 'database "no_such_database" does not exist' in err
    assert "fix the SQL" not in err


@pytest.mark.parametrize("url", ["mysql://x/y", "oracle://u@h/db", "mongodb://h/db"])
def test_unsupported_databases_name_the_supported_ones(url: str) -> None:
    code, err = _run("list", "--db", url)
    assert code == 2
    assert "assertions run on PostgreSQL and SQLite only" in err
    assert "postgresql://" in err
    assert "sqlite:///" in err
    assert "pip install" not in err


def test_a_sqlite_path_in_a_missing_folder_creates_nothing(workdir: Path) -> None:
    missing = workdir / "nonexistent" / "dir"
    code, err = _run("list", "--db", f"sqlite:///{missing / 'x.db'}")
    assert code == 2
    assert f"folder {missing} does not exist" in err
    assert not (workdir / "nonexistent").exists()


def test_parse_errors_name_the_line_and_carry_no_escape_codes(workdir: Path) -> None:
    script = workdir / "bad.sql"
    script.write_text(f"CREATE TABLE t (a INTEGER);\n\n{BROKEN}")
    result = runner.invoke(app, ["assert", "apply", str(script), "--db", "sqlite:///x.db"])
    assert result.exit_code == 2
    assert ESC not in result.output
    assert f"{script}:3: cannot parse assertion statement" in result.stderr
    assert "near 'FROM'" in result.stderr
    assert "<Token" not in result.stderr


@pytest.fixture
def client(workdir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(load_settings(), apps=[APP])) as test_client:
        yield test_client


@pytest.mark.parametrize("endpoint", ["apply", "compile"])
def test_parse_errors_in_the_api_carry_no_escape_codes(client: TestClient, endpoint: str) -> None:
    _, token = client.app.state.skybridge.tokens.create("t", ["admin"])  # type: ignore[attr-defined]
    response = client.post(
        f"/api/assertions/{endpoint}",
        json={"sql": BROKEN},
        headers={"Authorization": f"Bearer {token.reveal()}"},
    )
    assert response.status_code == 422
    assert ESC not in response.text
    assert "\\u001b" not in response.text
    assert "cannot parse assertion statement" in response.json()["message"]


def test_a_script_with_no_statement_is_refused_and_creates_nothing(workdir: Path) -> None:
    script = workdir / "empty.sql"
    script.write_text("-- only a comment\n\n")
    code, err = _run("apply", str(script), "--db", f"sqlite:///{workdir / 'new.db'}")
    assert code == 2
    assert f"{script} holds no SQL statement" in err
    assert not (workdir / "new.db").exists()


def test_only_skybridges_own_open_data_folder_is_warned_about(workdir: Path) -> None:
    workdir.chmod(0o755)  # the project folder: --db files in it draw no warning about it
    (workdir / "sla.db").write_text("")  # list reads an existing database, it makes none
    (workdir / "sla.db").chmod(0o600)
    code, err = _run("list", "--db", "sqlite:///sla.db")
    assert code == 0, err
    assert "open to other users" not in err
    (workdir / ".skybridge").mkdir(mode=0o755)  # the default backends.sql lives here
    code, err = _run("list")
    assert code == 0, err
    assert '"hint": "chmod 700 .skybridge"' in err

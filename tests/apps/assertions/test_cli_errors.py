"""Command-line errors say what is wrong and what to do, with the right exit code, no traceback.

Parse errors carry no terminal escape codes, on the command line and in the HTTP API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from skybridge.apps.assertions import APP
from skybridge.cli import app
from skybridge.core.config import load_settings
from skybridge.server import create_app

runner = CliRunner()
ESC = "\x1b"
BROKEN = "CREATE ASSERTION broken CHECK (NOT EXISTS (SELECT FROM"


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


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
    _, token = client.app.state.skybridge.tokens.create("t")  # type: ignore[attr-defined]
    response = client.post(
        f"/api/assertions/{endpoint}",
        json={"sql": BROKEN},
        headers={"Authorization": f"Bearer {token.reveal()}"},
    )
    assert response.status_code == 422
    assert ESC not in response.text
    assert "\\u001b" not in response.text
    assert "cannot parse assertion statement" in response.json()["message"]

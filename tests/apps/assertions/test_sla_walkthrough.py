"""The command-line walkthrough of examples/sla/README.md, run as written.

Each ``$ skybridge ...`` line of its console block is a command (``# exit N`` gives its exit
code, else 0); the lines below it are excerpts that must appear in what it prints (spaces
collapsed, so table padding does not matter).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.cli import app

from .conftest import EXAMPLE

SECTION = "## Command-line walkthrough"


def walkthrough() -> list[tuple[list[str], int, list[str]]]:
    """(arguments after ``skybridge``, exit code, expected excerpts) per command."""
    text = (EXAMPLE / "README.md").read_text().split(SECTION, 1)[1]
    block = re.search(r"```console\n(.*?)```", text, re.DOTALL)
    assert block is not None
    steps: list[tuple[list[str], int, list[str]]] = []
    for line in block.group(1).splitlines():
        if line.startswith("$ "):
            command, _, comment = line[2:].partition("  # ")
            words = shlex.split(command)
            assert words[0] == "skybridge"
            code = int(comment.removeprefix("exit ")) if comment else 0
            steps.append((words[1:], code, []))
        elif line.strip():
            steps[-1][2].append(" ".join(line.split()))
    return steps


def test_the_readme_walkthrough_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COLUMNS", "120")  # a usual terminal: tables keep one line per row
    monkeypatch.chdir(tmp_path)
    tmp_path.chmod(0o755)  # a usual project folder: sla.db in it draws no warning about it
    (tmp_path / "examples").symlink_to(EXAMPLE.parent)
    runner = CliRunner()
    steps = walkthrough()
    assert len(steps) >= 6
    for args, code, excerpts in steps:
        result = runner.invoke(app, args)
        shown = " ".join(args)
        assert result.exit_code == code, f"{shown}\n{result.output}"
        assert "Traceback" not in result.output
        assert "open to other users" not in result.output, f"{shown}\n{result.output}"
        printed = [" ".join(line.split()) for line in result.output.splitlines()]
        for excerpt in excerpts:
            assert any(excerpt in line for line in printed), (
                f"{shown}: {excerpt!r} not in\n{result.output}"
            )
    assert (tmp_path / "assertions.pg.sql").is_file()

"""``skybridge anomaly``: help that shows the settings it names, and options never ignored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer
from click.testing import Result
from rich.text import Text
from typer.testing import CliRunner

from skybridge.apps.anomaly.cli import anomaly_app
from skybridge.apps.anomaly.runner import run_once
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.cli import build_cli
from skybridge.core.errors import ValidationError


def _cli(*args: str) -> Result:
    return CliRunner().invoke(build_cli(), list(args), env={"COLUMNS": "250"})


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        ("detectors", "the default (``[anomaly] detector``, built in: combined)"),
        ("detect", "(default: [anomaly] detector)"),
        ("detect", "(default: [anomaly] thresholds of the file's name"),
        ("eval", "(default: [anomaly] detector)"),
    ],
)
def test_help_shows_the_settings_section_it_names(command: str, shown: str) -> None:
    result = _cli("anomaly", command, "--help")
    assert result.exit_code == 0, result.output
    assert shown in " ".join(result.stdout.split())


def _help_texts(command: click.Command, path: str) -> Iterator[tuple[str, str]]:
    yield path, command.help or ""
    for param in command.params:
        yield f"{path} {param.name}", getattr(param, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        yield from _help_texts(sub, f"{path} {name}")


def test_no_help_text_loses_a_bracketed_word_to_console_markup() -> None:
    """Help is rendered as rich markup: ``[anomaly]`` must be written ``\\[anomaly]``."""
    for where, text in _help_texts(typer.main.get_command(anomaly_app), "anomaly"):
        assert Text.from_markup(text).plain == text.replace("\\[", "["), where


def test_run_refuses_a_series_name_without_a_file(skybridge_workdir: Path) -> None:
    result = _cli("anomaly", "run", "--series", "foo", "--idle-exit", "0.1")
    assert result.exit_code == 2, result.output
    assert "--series applies only with --file" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    spec = find_app(discover_apps(), "anomaly")
    ctx = AppContext.create(spec, load_settings([spec]))
    with pytest.raises(ValidationError, match="only with a file"):
        run_once(ctx, series="foo", idle_exit=0.1)

"""What users type reaches the terminal as typed, and a bad file is a message, not a traceback.

Names, values and paths holding console-markup brackets (``[/x]``, ``[red]``) print as
themselves, in messages, tables and errors alike; a file that is missing, a folder, or not
UTF-8 text exits 2 naming it; an unknown name exits 2.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from skybridge.apps.kit.cli import input_error, report_error, styled
from skybridge.backends import streams
from skybridge.cli import app
from skybridge.core.config import load_settings
from skybridge.core.errors import ValidationError

runner = CliRunner()


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


def run(*args: str) -> object:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def test_styled_keeps_values_plain_and_its_own_markup_styled() -> None:
    text = styled("[green]ok[/] {} {:.1f}", "a[/x]b [red]c", 2.345)
    assert text.plain == "ok a[/x]b [red]c 2.3"
    assert [(s.start, s.end, str(s.style)) for s in text.spans] == [(0, 2, "green")]


def test_an_error_message_with_brackets_prints_as_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report_error(ValidationError("topic 'x[/b]' is odd", hint="rename [red] things"))
    err = capsys.readouterr().err
    assert "error: topic 'x[/b]' is odd" in err
    assert "hint: rename [red] things" in err


def test_bracketed_names_and_values_round_trip_through_the_stream_commands() -> None:
    created = run("stream", "create", "t1")
    assert created.exit_code == 0  # type: ignore[attr-defined]
    produced = run("stream", "produce", "t1", "[/red] and [bold]x", "--key", "k[/y]")
    assert produced.exit_code == 0, produced.output  # type: ignore[attr-defined]
    consumed = run("stream", "consume", "t1", "--from-beginning", "--timeout", "1")
    assert consumed.exit_code == 0, consumed.output  # type: ignore[attr-defined]
    assert "k[/y]" in consumed.stdout  # type: ignore[attr-defined]
    assert "[/red] and [bold]x" in consumed.stdout  # type: ignore[attr-defined]


def test_a_bad_name_with_markup_is_refused_with_exit_2() -> None:
    result = run("token", "create", "x[/bold]y")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "x[/bold]y" in result.stderr  # type: ignore[attr-defined]


def test_an_unknown_name_exits_2() -> None:
    result = run("token", "revoke", "nobody[/x]")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "nobody[/x]" in result.stderr  # type: ignore[attr-defined]


def test_a_binary_input_file_exits_2_naming_it(workdir: Path) -> None:
    (workdir / "photo.csv").write_bytes(b"\xff\xd8\xff\xe0 not text\n")
    result = run("anomaly", "detect", "photo.csv")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "photo.csv is not UTF-8 text (it holds the byte 0xff)" in result.stderr  # type: ignore[attr-defined]


def test_an_output_path_that_is_a_folder_exits_2_naming_it(workdir: Path) -> None:
    (workdir / "out").mkdir()
    script = workdir / "a.sql"
    script.write_text(
        "CREATE TABLE t (x integer);\n"
        "CREATE ASSERTION pos CHECK (NOT EXISTS (SELECT 1 FROM t WHERE x < 0));\n"
    )
    result = run("assert", "compile", "a.sql", "-o", "out")
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "out: is a directory" in result.stderr  # type: ignore[attr-defined]
    assert "not a folder" in result.stderr  # type: ignore[attr-defined]


def test_a_config_file_that_is_a_folder_or_broken_is_blamed_on_the_option(workdir: Path) -> None:
    (workdir / "conf").mkdir()
    folder = run("--config", "conf", "token", "list")
    assert folder.exit_code == 2  # type: ignore[attr-defined]
    assert "--config: config file conf is a folder" in folder.stderr  # type: ignore[attr-defined]
    (workdir / "bad.toml").write_text("[log\n")
    broken = run("--config", "bad.toml", "token", "list")
    assert broken.exit_code == 2  # type: ignore[attr-defined]
    assert "--config: cannot read bad.toml" in broken.stderr  # type: ignore[attr-defined]


def test_other_os_errors_are_not_blamed_on_the_user() -> None:
    assert input_error(ConnectionResetError(104, "Connection reset by peer")) is None
    assert input_error(FileNotFoundError(2, "No such file or directory")) is None  # no path
    found = input_error(FileNotFoundError(2, "No such file or directory", "x/y.csv"))
    assert found is not None
    assert found.message == "x/y.csv: no such file or directory"


def test_the_consoles_print_strings_as_they_are() -> None:
    from skybridge.apps.kit.cli import console

    buffer = io.StringIO()
    out = console()
    out.file = buffer
    out.print("notes[red].md", "[/x]")
    assert buffer.getvalue() == "notes[red].md [/x]\n"
    assert isinstance(out, Console)


@pytest.mark.parametrize(
    "args",
    [
        ("stream", "create", ""),
        ("stream", "create", "x[/b]"),
        ("stream", "create", "a" * 250),
        ("stream", "lag", "", "t1"),
        ("stream", "consume", "t1", "--group", " "),
    ],
)
def test_topic_and_group_names_are_checked_before_anything_is_made(args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code == 2  # type: ignore[attr-defined]
    settings = load_settings()
    backend = streams.connect(settings.backends.streams, setting="backends.streams")
    try:
        assert backend.topics() == []
    finally:
        backend.close()


def test_a_value_that_is_no_utf8_round_trips_in_base64(workdir: Path) -> None:
    run("stream", "create", "bin")
    (workdir / "values.bin").write_bytes(b"\xff\xfe\x00ok\nplain\n")
    assert run("stream", "produce", "bin", "--file", "values.bin").exit_code == 0  # type: ignore[attr-defined]
    consumed = run("stream", "consume", "bin", "--from-beginning", "--json", "--timeout", "0.5")
    first, second = (json.loads(line) for line in consumed.stdout.splitlines())  # type: ignore[attr-defined]
    assert base64.b64decode(first["value_base64"]) == b"\xff\xfe\x00ok"
    assert (second["value"], second["value_base64"], second["key_base64"]) == ("plain", None, None)

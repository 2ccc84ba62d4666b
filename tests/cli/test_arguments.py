"""What the command line may hold: arguments that are not UTF-8 are refused before any command
runs (except the values ``stream produce`` keeps as bytes), counts have an upper bound, and no
command offers shell completion the root turned off."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from skybridge.cli import app

runner = CliRunner()
#: ``\udcff`` is how Python hands over the byte 0xff of an argument that is not UTF-8.
NOT_UTF8 = "bad\udcff"


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__STREAMS", f"sqlite:///{skybridge_workdir}/streams.db")
    return skybridge_workdir


def run(*args: str) -> Result:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def run_process(workdir: Path, *args: str | bytes, timeout: float = 60) -> tuple[int, str, str]:
    """``skybridge ARGS`` as a process of its own (a session, so that one that hangs is stopped
    with every process it started): exit code, stdout and stderr."""
    argv = [sys.executable, "-m", "skybridge.cli", *args]
    with subprocess.Popen(
        argv,
        cwd=workdir,
        env={**os.environ, "COLUMNS": "200"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"skybridge {args!r} did not exit in {timeout} s")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.mark.parametrize(
    ("args", "position"),
    [
        (("features", "get", NOT_UTF8), 3),
        (("token", "revoke", NOT_UTF8), 3),
        (("rag", "query", NOT_UTF8), 3),
        (("anomaly", "alerts", "ack", NOT_UTF8), 4),
        (("--config", NOT_UTF8, "check"), 2),
        ((NOT_UTF8,), 1),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_naming_its_position(
    args: tuple[str, ...], position: int
) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert f"error: argument {position} is not UTF-8 text: b'bad\\xff'" in result.stderr
    assert "hint: type names and values as UTF-8" in result.stderr
    assert result.stdout == ""


def test_the_refusal_names_the_first_of_several_and_counts_only_refused_ones() -> None:
    several = run("features", "get", "a\udcff", "b\udcfe")
    assert several.exit_code == 2
    assert "argument 3 is not UTF-8 text: b'a\\xff' (and 1 more)" in several.stderr
    produce = run("stream", "produce", "t\udcff", "v\udcfe", "--key", "k\udcfd")
    assert produce.exit_code == 2
    assert "argument 3 is not UTF-8 text: b't\\xff'\n" in produce.stderr  # value, key kept


def test_produce_still_takes_values_that_are_not_utf8_but_not_a_header_name() -> None:
    assert run("stream", "create", "raw").exit_code == 0
    kept = run("stream", "produce", "raw", "caf\udce9", "--key=k\udcff", "-H", "h=\udcfe")
    assert kept.exit_code == 0, kept.output
    topic = run("stream", "produce", "raw\udcff", "value")
    assert topic.exit_code == 2
    assert "argument 3 is not UTF-8 text: b'raw\\xff'" in topic.stderr
    header = run("stream", "produce", "raw", "value", "-H", "h\udcff=v")
    assert header.exit_code == 2
    assert "header name b'h\\xff' is not UTF-8 text" in header.stderr


def test_a_real_command_line_with_bytes_that_are_not_utf8_exits_2(workdir: Path) -> None:
    code, _, err = run_process(workdir, "features", "get", b"bad\xff")
    assert code == 2
    assert "argument 3 is not UTF-8 text: b'bad\\xff'" in err
    assert "Traceback" not in err


# (Not 99999999999: without the bound the embedded log runs the machine out of memory.)
@pytest.mark.parametrize("partitions", ["10001", "99999999999999999999"])
def test_stream_create_refuses_more_partitions_than_the_maximum(partitions: str) -> None:
    result = run("stream", "create", "t1", "-p", partitions)
    assert result.exit_code == 2
    assert "less than or equal to 10000" in result.stderr
    assert "at most 10,000" in run("stream", "create", "--help").stdout


# Processes of their own: a command that did start its workers is stopped with them.
def test_worker_run_refuses_more_than_64_workers(workdir: Path) -> None:
    code, _, err = run_process(workdir, "worker", "run", "anomaly.online", "-w", "65")
    assert code == 2
    assert "less than or equal to 64" in err


def test_worker_run_refuses_idle_exit_without_one_pipeline_once(workdir: Path) -> None:
    code, _, err = run_process(workdir, "worker", "run", "anomaly", "-w", "2", "--idle-exit", "1")
    assert code == 2
    assert err.count("take exactly one pipeline") == 1  # before any process starts


@pytest.mark.slow
def test_worker_processes_stop_when_idle_and_the_command_with_them(workdir: Path) -> None:
    args = ("worker", "run", "anomaly.online", "-w", "2", "--idle-exit", "0.5")
    code, out, _ = run_process(workdir, *args, timeout=90)
    assert code == 0
    assert out.count("Processed 0 record(s)") == 2


@pytest.mark.parametrize("command", ["check", "up", "version", "stream", "worker", "features"])
def test_no_command_offers_shell_completion(command: str) -> None:
    shown = run(command, "--help")
    assert shown.exit_code == 0
    assert "--install-completion" not in shown.stdout
    assert "--show-completion" not in shown.stdout


def test_consume_json_prints_one_json_object_per_line_and_says_so() -> None:
    assert "one JSON object per line" in run("stream", "consume", "--help").stdout
    run("stream", "create", "t1")
    for value in ("a", "b", "c"):
        assert run("stream", "produce", "t1", value).exit_code == 0
    result = run("stream", "consume", "t1", "--from-beginning", "-n", "2", "--json")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [json.loads(line)["value"] for line in lines] == ["a", "b"]
    assert result.stdout == "".join(f"{line}\n" for line in lines)

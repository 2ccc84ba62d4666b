"""``skybridge stream ...`` and ``skybridge worker run`` on the embedded log in a fresh folder."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skybridge.cli import app

runner = CliRunner()

PIPELINE_MODULE = """
import os
from skybridge.backends import kv
from skybridge.runtime.outputs import Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink

def handler(event):
    if event.value == "boom":
        raise ValueError("boom is not a number")
    return [Update("total", lambda c, v=event.value: (c or 0) + v)]

def pipeline():
    store = kv.connect("sqlite:///.skybridge/kv.db", setting=None)
    return Pipeline("adder", source=os.environ["SKYBRIDGE__BACKENDS__STREAMS"], topics=["nums"],
                    handler=handler, sinks={"kv": KVSink(store)}, poll_timeout=0.1)
"""


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__STREAMS", f"sqlite:///{skybridge_workdir}/streams.db")
    return skybridge_workdir


def run(*args: str) -> Any:
    return runner.invoke(app, list(args))


def test_produce_consume_lag_round_trip() -> None:
    assert run("stream", "create", "orders", "--partitions", "2").exit_code == 0
    result = run("stream", "produce", "orders", '{"id": 1}', "--key", "u1", "-H", "trace=t1")
    assert result.exit_code == 0, result.output
    lines = Path("orders.jsonl")
    lines.write_text('{"id": 2}\n\n{"id": 3}\n')
    produced = run("stream", "produce", "orders", "--file", str(lines), "--key", "u1", "--json")
    assert [p["offset"] for p in json.loads(produced.stdout)] == [1, 2]  # same key, same partition

    consumed = run(
        "stream", "consume", "orders", "--group", "g1", "--from-beginning", "--json",
        "--timeout", "0.5",
    )  # fmt: skip
    records = [json.loads(line) for line in consumed.stdout.splitlines()]
    assert [r["value"] for r in records] == ['{"id": 1}', '{"id": 2}', '{"id": 3}']
    assert records[0]["key"] == "u1"
    assert records[0]["headers"] == {"trace": "t1"}

    lag = json.loads(run("stream", "lag", "g1", "orders", "--json").stdout)
    assert sum(p["lag"] for p in lag["partitions"]) == 0
    run("stream", "produce", "orders", "x", "--key", "u1")
    table = run("stream", "lag", "g1", "orders")
    assert "total" in table.stdout
    assert (
        sum(
            p["lag"]
            for p in json.loads(run("stream", "lag", "g1", "orders", "--json").stdout)["partitions"]
        )
        == 1
    )

    limited = run(
        "stream", "consume", "orders", "--from-beginning", "--max", "2", "--timeout", "0.5"
    )
    assert limited.exit_code == 0
    assert limited.stdout.count("u1") == 2


def test_bad_input_exits_2_with_a_message() -> None:
    run("stream", "create", "t")
    both = run("stream", "produce", "t")
    assert both.exit_code == 2
    assert "exactly one of VALUE or --file" in both.stderr
    header = run("stream", "produce", "t", "v", "--header", "novalue")
    assert header.exit_code == 2
    assert "name=value" in header.stderr
    missing = run("stream", "produce", "nope", "v")
    assert missing.exit_code == 2
    assert "does not exist" in missing.stderr
    assert "skybridge stream create nope" in missing.stderr
    assert "create_topic() it" not in missing.stderr
    assert run("stream", "dlq", "replay", "t").exit_code == 2


def test_dlq_list_without_dead_letters_is_not_an_error() -> None:
    run("stream", "create", "quiet")
    listed = run("stream", "dlq", "list", "quiet")
    assert listed.exit_code == 0, listed.output
    assert "No dead letters for quiet." in listed.stdout
    assert json.loads(run("stream", "dlq", "list", "quiet", "--json").stdout) == []
    unknown = run("stream", "dlq", "list", "never-made")
    assert unknown.exit_code == 2
    assert "never-made" in unknown.stderr
    replayed = run("stream", "dlq", "replay", "quiet", "--all", "--json")
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout) == {"replayed": []}
    missing = run("stream", "dlq", "replay", "quiet", "--id", "0:5")
    assert missing.exit_code == 2
    assert "no dead letters ['0:5'] on quiet: it has none" in missing.stderr
    malformed = run("stream", "dlq", "replay", "quiet", "--id", "abc")
    assert malformed.exit_code == 2
    assert "'abc' is not a dead letter id" in malformed.stderr
    assert run("stream", "dlq", "replay", "never-made", "--all").exit_code == 2


def test_create_says_when_an_existing_topic_keeps_its_partitions() -> None:
    assert run("stream", "create", "three", "-p", "3").exit_code == 0
    again = run("stream", "create", "three", "-p", "5")
    assert again.exit_code == 0  # create is idempotent
    assert "has 3 partition(s)" in again.stdout
    assert "--partitions 5 was not applied" in again.stderr
    quiet = run("stream", "create", "three")  # no --partitions: nothing to warn about
    assert quiet.stderr == ""


def test_produce_takes_bytes_that_are_not_utf8(workdir: Path) -> None:
    run("stream", "create", "raw")
    argument = run("stream", "produce", "raw", "caf\udce9", "--key", "k\udcff")
    assert argument.exit_code == 0, argument.output
    lines = workdir / "latin1.txt"
    lines.write_bytes(b"caf\xe9\r\n\xff\xfe\n\n")
    from_file = run("stream", "produce", "raw", "-f", str(lines))
    assert from_file.exit_code == 0, from_file.output
    assert "Traceback" not in from_file.output
    from skybridge.backends import streams

    with streams.connect(os.environ["SKYBRIDGE__BACKENDS__STREAMS"]) as backend:
        consumer = backend.consumer("check", ["raw"], start="earliest")
        with consumer:
            values = [(r.key, r.value) for r in consumer.iterate(idle_timeout=1.0)]
    assert values == [(b"k\xff", b"caf\xe9"), (None, b"caf\xe9"), (None, b"\xff\xfe")]


def test_worker_run_dead_letters_then_dlq_replay(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "adderpipes.py").write_text(PIPELINE_MODULE)
    monkeypatch.syspath_prepend(str(workdir))
    run("stream", "create", "nums")
    for value in ("1", "2", '"boom"', "4"):
        assert run("stream", "produce", "nums", value, "-H", "src=test").exit_code == 0
    result = run("worker", "run", "adderpipes:pipeline", "--idle-exit", "0.5")
    assert result.exit_code == 0, result.output
    assert "Processed 4 record(s)" in result.stdout
    assert "1 dead letter" in result.stdout

    letters = json.loads(run("stream", "dlq", "list", "nums", "--json").stdout)
    assert len(letters) == 1
    letter = letters[0]
    assert letter["error_type"] == "ValueError"
    assert "boom is not a number" in letter["error"]
    assert letter["headers"] == {"src": "test"}
    assert letter["offset"] == 2
    assert not letter["replayed"]
    assert "ValueError" in run("stream", "dlq", "list", "nums").stdout

    replayed = run("stream", "dlq", "replay", "nums", "--all", "--json")
    assert json.loads(replayed.stdout) == {"replayed": [letter["id"]]}
    listed = json.loads(run("stream", "dlq", "list", "nums", "--json").stdout)
    assert listed[0]["replayed"] is True
    assert json.loads(run("stream", "dlq", "replay", "nums", "--all", "--json").stdout) == {
        "replayed": []
    }
    args = ("stream", "consume", "nums", "--from-beginning", "--json", "--timeout", "0.3")
    last = json.loads(run(*args).stdout.splitlines()[-1])
    assert (last["offset"], last["value"], last["headers"]) == (4, '"boom"', {"src": "test"})
    sys.modules.pop("adderpipes", None)


def test_worker_run_unknown_pipeline() -> None:
    result = run("worker", "run", "no_such_module:pipe")
    assert result.exit_code == 2
    assert "cannot import" in result.stderr
    named = run("worker", "run", "not-registered")
    assert named.exit_code == 2
    assert "no app called 'not-registered'" in named.stderr
    assert "installed apps:" in named.stderr
    part = run("worker", "run", "secretsync.nope")
    assert part.exit_code == 2
    assert "no background part 'nope'" in part.stderr
    empty = run("worker", "run", "anomaly.")
    assert empty.exit_code == 2
    assert "app 'anomaly' has no background part ''" in empty.stderr
    assert "its parts: online, jobs" in empty.stderr
    idle = run("worker", "run", "assertions")
    assert idle.exit_code == 2
    assert "app 'assertions' has no background work" in idle.stderr
    many = run("worker", "run", "no_such_module:pipe", "--workers", "2")
    assert many.exit_code == 2
    assert many.stderr.count("cannot import") == 1  # refused before any process starts

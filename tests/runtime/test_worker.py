"""Worker processes: two members split the partitions; SIGTERM drains, commits and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.streams import Message, StreamBackend
from skybridge.core.errors import NotFound, ValidationError
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink
from skybridge.runtime.worker import load_pipeline, run_workers, worker_command

#: The pipeline the worker processes import (``workerpipes:pipeline``). Every handler call is
#: appended to calls.log (not guarded), so a redelivered record would show up twice there.
PIPELINE_MODULE = """
import os, time
from skybridge.backends import kv
from skybridge.runtime.outputs import Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink

DELAY = float(os.environ.get("TEST_DELAY", "0"))

def handler(event):
    time.sleep(DELAY)
    with open("calls.log", "a") as log:
        log.write(f"{os.getpid()} {event.record.partition} {event.record.offset}\\n")
    return [Update(f"hits/{event.key}", lambda c: (c or 0) + 1),
            Update(f"by/{os.getpid()}", lambda c: (c or 0) + 1)]

def pipeline():
    store = kv.connect(os.environ["TEST_KV"], setting=None)
    return Pipeline("workers", source=os.environ["TEST_LOG"], topics=["jobs"],
                    handler=handler, sinks={"kv": KVSink(store)}, batch_size=20,
                    poll_timeout=0.1)
"""


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StreamBackend:
    (tmp_path / "workerpipes.py").write_text(PIPELINE_MODULE)
    monkeypatch.chdir(tmp_path)
    log_url = f"sqlite:///{tmp_path}/log.db?session_timeout=2&heartbeat_interval=0.2"
    monkeypatch.setenv("TEST_LOG", log_url)
    monkeypatch.setenv("TEST_KV", f"sqlite:///{tmp_path}/kv.db")
    backend = streams_family.connect(log_url, setting=None)
    backend.create_topic("jobs", 4)
    return backend


def produce(backend: StreamBackend, count: int) -> Counter[str]:
    keys = Counter(f"k{i % 13}" for i in range(count))
    backend.produce(
        "jobs", [Message(json.dumps(i).encode(), f"k{i % 13}".encode()) for i in range(count)]
    )
    return keys


def calls() -> list[tuple[int, int, int]]:
    lines = Path("calls.log").read_text().split("\n")
    return [(int(a), int(b), int(c)) for a, b, c in (line.split() for line in lines if line)]


def test_two_workers_split_partitions_and_apply_each_event_once(
    setup: StreamBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = produce(setup, 600)
    monkeypatch.setenv("TEST_DELAY", "0.004")
    assert run_workers("workerpipes:pipeline", 2, idle_exit=1.5) == 0

    done = calls()
    pids = {pid for pid, _, _ in done}
    assert len(pids) == 2  # both members got partitions
    positions = Counter((p, o) for _, p, o in done)
    assert len(positions) == 600
    assert max(positions.values()) == 1  # no record handled twice
    partitions_by_pid = {pid: {p for q, p, _ in done if q == pid} for pid in pids}
    first, second = partitions_by_pid.values()
    assert first
    assert second
    sink = KVSink(kv_family.connect(os.environ["TEST_KV"], setting=None))
    assert {k: sink.get(f"hits/{k}") for k in keys} == dict(keys)
    assert sum(sink.get(f"by/{pid}") for pid in pids) == 600
    assert setup.total_lag("workers", "jobs") == 0


def test_sigterm_finishes_the_batch_commits_and_exits_0(
    setup: StreamBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce(setup, 300)
    monkeypatch.setenv("TEST_DELAY", "0.01")
    proc = subprocess.Popen(worker_command("workerpipes:pipeline"))
    deadline = time.monotonic() + 30
    while (not Path("calls.log").exists() or len(calls()) < 50) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    handled = len(calls())
    assert 50 <= handled < 300
    committed = sum(v or 0 for v in setup.committed("workers", "jobs").values())
    assert committed == handled  # the batch in flight finished and was committed

    subprocess.run([*worker_command("workerpipes:pipeline", idle_exit=1.0)], check=True)
    positions = Counter((p, o) for _, p, o in calls())
    assert len(positions) == 300
    assert max(positions.values()) == 1  # nothing was delivered again after the restart


def test_load_pipeline_by_path_factory_and_errors(setup: StreamBackend) -> None:
    pipeline = load_pipeline("workerpipes:pipeline")
    assert isinstance(pipeline, Pipeline)
    assert pipeline.name == "workers"
    with pytest.raises(NotFound, match="no attribute"):
        load_pipeline("workerpipes:missing")
    with pytest.raises(ValidationError, match="not a Pipeline"):
        load_pipeline("workerpipes:DELAY")
    with pytest.raises(ValidationError, match="not module:attribute"):
        load_pipeline("nothing-registered-here")
    with pytest.raises(ValidationError, match="'json:dumps' needs arguments"):
        load_pipeline("json:dumps")
    with pytest.raises(ValidationError, match="is a float, not a Pipeline"):
        load_pipeline("time:time")  # a builtin taking none is called
    sys.modules.pop("workerpipes", None)

"""kill -9 a worker at points hypothesis chooses; after a restart every event's effect on the
kv sink and on the handler state has happened exactly once (sqlite log, Kafka and Kinesis).

State and kv sink live either in one kv store (one atomic ``write_batch`` per batch) or in two
(namespaces: two ``write_batch`` calls, sink documents first), so a crash can also fall
between the sink's and the state's writes.

Run as a script, this file is the worker: ``python test_crash.py SOURCE KV TOPIC PHASE N SPLIT``
runs the counting pipeline and SIGKILLs itself at the N-th crash point of PHASE.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.streams import Message
from skybridge.runtime.outputs import Event, Put, Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink
from skybridge.runtime.state import GuardedStore

PHASES = ("handler", "flush-before", "write-after", "commit-before", "timer")
KEYS = [f"user-{i}" for i in range(6)]
#: Called at the start of every handler call (the worker's "handler" crash point).
BEFORE_HANDLE: list[Callable[[], None]] = []


def handle(state: Any, event: Event) -> tuple[Any, list[Any]]:
    for hook in BEFORE_HANDLE:
        hook()
    n = (state or 0) + 1
    seq = event.value["i"]
    return n, [
        Put(f"seen/{event.key}", n),
        Update(f"hits/{event.key}", lambda c: (c or 0) + 1),
        Update(f"log/{event.key}", lambda c: [*(c or []), seq]),
    ]


def state_store(kv_url: str, split: bool) -> Any:
    if split:
        return kv_family.connect(kv_url, setting=None, namespace="state")
    return kv_family.connect(kv_url, setting=None)


def build(source: str, kv_url: str, topic: str, split: bool = False) -> Pipeline:
    kv = kv_family.connect(kv_url, setting=None)
    return Pipeline(
        "crash",
        source=source,
        topics=[topic],
        group=f"g-{topic}",
        stateful=handle,
        state=state_store(kv_url, split),
        sinks={"kv": KVSink(kv)},
        batch_size=16,
        poll_timeout=0.2,
    )


# -- the worker side -------------------------------------------------------------------------


def _kill_at(n: int) -> Callable[[], None]:
    calls = {"n": 0}

    def tick() -> None:
        calls["n"] += 1
        if calls["n"] >= n:
            os.kill(os.getpid(), signal.SIGKILL)

    return tick


def _install_crash(phase: str, n: int) -> None:
    from skybridge.backends.kv.base import KeyValueStore
    from skybridge.backends.streams.base import Consumer
    from skybridge.runtime import runner
    from skybridge.runtime.writes import WriteSet

    tick = _kill_at(n)
    if phase == "handler":
        BEFORE_HANDLE.append(tick)
    elif phase == "flush-before":
        original_flush = WriteSet.flush

        def crashing_flush(self: WriteSet) -> int:
            tick()
            return original_flush(self)

        WriteSet.flush = crashing_flush  # type: ignore[method-assign]
    elif phase == "write-after":
        original_write = KeyValueStore.write_batch

        def crashing_write(self: KeyValueStore, writes: Any) -> dict[str, int]:
            versions = original_write(self, writes)
            tick()
            return versions

        KeyValueStore.write_batch = crashing_write  # type: ignore[method-assign]
    elif phase == "commit-before":
        original_commit = runner.PipelineRunner._commit

        def crashing_commit(self: Any, consumer: Consumer, records: Any) -> None:
            tick()
            original_commit(self, consumer, records)

        runner.PipelineRunner._commit = crashing_commit  # type: ignore[method-assign]


def _worker_main(argv: list[str]) -> int:
    from skybridge.runtime.worker import run_worker

    source, kv_url, topic, phase, n, split, *idle = argv
    _install_crash(phase, int(n))
    idle_exit = float(idle[0]) if idle else 1.0
    run_worker(build(source, kv_url, topic, split == "split"), idle_exit=idle_exit)
    return 0


# -- the test side ---------------------------------------------------------------------------


def spawn(
    source: str, kv_url: str, topic: str, phase: str, n: int, split: bool, idle: float = 1.0
) -> subprocess.Popen[bytes]:
    layout = "split" if split else "shared"
    command = [sys.executable, __file__, source, kv_url, topic, phase, str(n), layout, str(idle)]
    return subprocess.Popen(command, cwd=Path(__file__).parent)


crash_points = st.lists(
    st.tuples(st.sampled_from(PHASES), st.integers(1, 12)), min_size=1, max_size=2
)


def crash_and_check(
    source: str,
    crashes: list[tuple[str, int]],
    events: int,
    scratch: pytest.TempPathFactory,
    split: bool = False,
) -> None:
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    backend = streams_family.connect(source, setting=None)
    backend.create_topic(topic, 2)
    sent: dict[str, list[int]] = {k: [] for k in KEYS}
    messages = []
    for i in range(events):
        key = KEYS[(i * 7 + i // 3) % len(KEYS)]
        sent[key].append(i)
        messages.append(Message(json.dumps({"i": i}).encode(), key.encode()))
    backend.produce(topic, messages)
    kv_url = f"sqlite:///{scratch.mktemp('crash-kv')}/kv.db"

    for attempt, (phase, n) in enumerate(crashes):
        proc = spawn(source, kv_url, topic, phase, n, split)
        if phase == "timer":
            time.sleep(0.4 + n * 0.15)
            proc.kill()
        code = proc.wait(timeout=60)
        assert code in (0, -signal.SIGKILL)
        if attempt == 0 and phase == "handler":
            assert code == -signal.SIGKILL  # the first worker makes more than 12 handler calls
    # A killed worker keeps its partitions until its lease expires (Kafka: the session timeout,
    # 6 s here): if the last worker left something uncommitted, the next ones wait longer than
    # a lease, until everything is committed.
    deadline, idle = time.monotonic() + 240, 1.0
    while True:
        final = spawn(source, kv_url, topic, "none", 0, split, idle=idle)
        assert final.wait(timeout=120) == 0
        if _all_committed(backend, source, topic, events) or time.monotonic() > deadline:
            break
        idle = 8.0

    kv = kv_family.connect(kv_url, setting=None)
    sink, state = KVSink(kv), GuardedStore(state_store(kv_url, split), "state/crash/")
    for key, seqs in sent.items():
        assert sink.get(f"log/{key}") == seqs, key  # every event once, in order
        assert sink.get(f"hits/{key}") == len(seqs)
        assert sink.get(f"seen/{key}") == len(seqs)
        assert state.get(key) == len(seqs)
    assert _all_committed(backend, source, topic, events)


def _all_committed(backend: Any, source: str, topic: str, events: int) -> bool:
    if source.startswith("kinesis"):  # offsets are sequence numbers: lag says it
        return all(p.lag == 0 for p in backend.lag(f"g-{topic}", topic).values())
    committed = backend.committed(f"g-{topic}", topic).values()  # None: nothing committed yet
    return sum(offset or 0 for offset in committed) == events


#: Each example starts 2-3 processes; shrinking a failure would take many minutes.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@settings(
    max_examples=6,
    deadline=None,
    phases=NO_SHRINK,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(crashes=crash_points, split=st.booleans())
def test_crash_on_sqlite_loses_nothing_and_applies_effects_once(
    tmp_path_factory: pytest.TempPathFactory, crashes: list[tuple[str, int]], split: bool
) -> None:
    log = tmp_path_factory.mktemp("crash-log")
    source = f"sqlite:///{log}/log.db?session_timeout=1"
    crash_and_check(source, crashes, events=150, scratch=tmp_path_factory, split=split)


@pytest.mark.kafka
@settings(max_examples=2, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck))
@given(crashes=st.tuples(st.sampled_from(PHASES[1:4]), st.integers(2, 8)).map(lambda c: [c]))
def test_crash_on_kafka_loses_nothing_and_applies_effects_once(
    kafka_server: Any, tmp_path_factory: pytest.TempPathFactory, crashes: list[tuple[str, int]]
) -> None:
    source = f"{kafka_server.url}?session_timeout=6&heartbeat_interval=0.5"
    crash_and_check(source, crashes, events=120, scratch=tmp_path_factory)


@pytest.mark.moto
@settings(max_examples=2, deadline=None, phases=NO_SHRINK, suppress_health_check=list(HealthCheck))
@given(crashes=st.tuples(st.sampled_from(PHASES[:4]), st.integers(2, 8)).map(lambda c: [c]))
def test_crash_on_kinesis_loses_nothing_and_applies_effects_once(
    moto_server: Any, tmp_path_factory: pytest.TempPathFactory, crashes: list[tuple[str, int]]
) -> None:
    checkpoints = quote(f"sqlite:///{tmp_path_factory.mktemp('crash-ckpt')}/ckpt.db", safe="")
    source = (
        f"kinesis://crash-?region=us-east-1&endpoint_url={moto_server.url}"
        f"&checkpoints={checkpoints}&session_timeout=1.5&heartbeat_interval=0.1&poll_interval=0.05"
    )
    crash_and_check(source, crashes, events=120, scratch=tmp_path_factory)


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))

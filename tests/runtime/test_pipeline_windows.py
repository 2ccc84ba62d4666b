"""Event-time windows wired into pipelines: results equal a batch computation, idle closing,
redelivery folds nothing twice, and kill -9 at chosen points still emits every window once.

Run as a script, this file is the worker of the crash test:
``python test_pipeline_windows.py SOURCE KV TOPIC PHASE N``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.streams import Message, StreamBackend
from skybridge.core.clock import Clock, ManualClock, SystemClock
from skybridge.core.errors import ConfigError
from skybridge.runtime.outputs import Put, Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.runner import PipelineRunner
from skybridge.runtime.sinks import KVSink
from skybridge.runtime.windows import WindowResult, counter, tumbling

SIZE = 10.0
BASE = 1_700_000_000.0
KEYS = [f"k{i}" for i in range(5)]


def events(n: int, step: float = 0.7) -> list[tuple[str, float]]:
    return [(KEYS[(i * 3 + i // 4) % len(KEYS)], BASE + i * step) for i in range(n)]


def produce(log: StreamBackend, topic: str, items: list[tuple[str, float]]) -> None:
    log.produce(
        topic, [Message(json.dumps({"t": t}).encode(), k.encode(), timestamp=t) for k, t in items]
    )


def expected_counts(items: list[tuple[str, float]]) -> Counter[tuple[str, float]]:
    return Counter((k, BASE + ((t - BASE) // SIZE) * SIZE) for k, t in items)


def on_window(result: WindowResult[Any]) -> list[Any]:
    where = f"{result.key}/{result.window.start!r}"
    return [Put(f"win/{where}", result.value), Update(f"emitted/{where}", lambda c: (c or 0) + 1)]


def windowed(source: str | StreamBackend, kv: KeyValueStore, topic: str, **extra: Any) -> Pipeline:
    options: dict[str, Any] = {
        "name": "win",
        "group": f"g-{topic}",
        "window": tumbling(SIZE),
        "aggregate": counter(),
        "on_window": on_window,
        "state": kv,
        "sinks": {"kv": KVSink(kv)},
        "batch_size": 16,
        "poll_timeout": 0.1,
    }
    options.update(extra)
    return Pipeline(source=source, topics=[topic], **options)


def check(kv: KeyValueStore, items: list[tuple[str, float]]) -> None:
    sink = KVSink(kv)
    for (key, start), count in expected_counts(items).items():
        assert sink.get(f"win/{key}/{start!r}") == count, (key, start)
        assert sink.get(f"emitted/{key}/{start!r}") == 1, (key, start)
    emitted = [i.key for i in kv.scan_prefix("emitted/")]
    assert len(emitted) == len(expected_counts(items))


@pytest.fixture
def log(tmp_path: Path) -> StreamBackend:
    backend = streams_family.connect(f"sqlite:///{tmp_path}/log.db?session_timeout=2")
    backend.create_topic("events", 2)
    return backend


def drain(runner: PipelineRunner, clock: ManualClock) -> None:
    with runner.consumer() as consumer:
        while runner.step(consumer) or not consumer.assignment():
            pass
        clock.advance(3600)  # the stream goes quiet: idle partitions follow the clock
        runner.processor.tick(sorted(consumer.assignment()))


def test_window_results_equal_a_batch_computation(log: StreamBackend, kv: KeyValueStore) -> None:
    items = events(200)
    produce(log, "events", items)
    clock = ManualClock()
    runner = PipelineRunner(windowed(log, kv, "events", idle_timeout=60, clock=clock))
    drain(runner, clock)
    check(kv, items)


def test_windows_close_on_idle_time_not_only_on_the_next_event(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, "events", [("k0", BASE + 1), ("k0", BASE + 2)])
    clock = ManualClock()
    runner = PipelineRunner(windowed(log, kv, "events", idle_timeout=5, clock=clock))
    with runner.consumer() as consumer:
        while runner.step(consumer) or not consumer.assignment():
            pass
        assert KVSink(kv).get(f"win/k0/{BASE!r}") is None  # open: the watermark is at +2
        clock.advance(4)
        runner.processor.tick(sorted(consumer.assignment()))
        assert KVSink(kv).get(f"win/k0/{BASE!r}") is None  # not idle long enough yet
        clock.advance(5)  # silent 9 s: watermark = 2 + 9 > window end 10
        runner.processor.tick(sorted(consumer.assignment()))
        assert KVSink(kv).get(f"win/k0/{BASE!r}") == 2
        runner.processor.tick(sorted(consumer.assignment()))
    assert KVSink(kv).get(f"emitted/k0/{BASE!r}") == 1
    meta = kv.get_json("windows/win/events/0/m") or kv.get_json("windows/win/events/1/m")
    assert meta["v"]["watermarks"]["floor"] > BASE + SIZE  # the watermark was persisted


def test_a_redelivered_batch_is_not_folded_twice(log: StreamBackend, kv: KeyValueStore) -> None:
    items = events(60)
    produce(log, "events", items)
    clock = ManualClock()
    pipeline = windowed(log, kv, "events", idle_timeout=60, clock=clock, batch_size=500)
    runner = PipelineRunner(pipeline)
    with runner.consumer() as consumer:
        batch: list[Any] = []
        while not batch:
            batch = consumer.poll(500, 0.2)
        runner.processor.process(batch)  # "crash" before the commit ...
    runner = PipelineRunner(windowed(log, kv, "events", idle_timeout=60, clock=clock))
    drain(runner, clock)  # ... the batch comes again, to a fresh worker
    check(kv, items)


def test_window_declaration_errors(kv: KeyValueStore) -> None:
    with pytest.raises(ConfigError, match="aggregate"):
        Pipeline("w", source="sqlite:///x.db", topics=["t"], window=tumbling(5), state=kv)
    with pytest.raises(ConfigError, match="state"):
        Pipeline(
            "w", source="sqlite:///x.db", topics=["t"], window=tumbling(5), aggregate=counter()
        )
    with pytest.raises(ConfigError, match="on_late"):
        Pipeline(
            "w",
            source="sqlite:///x.db",
            topics=["t"],
            window=tumbling(5),
            aggregate=counter(),
            state=kv,
            late_policy="side",
        )


# -- kill -9 ----------------------------------------------------------------------------------

PHASES = ("handler", "flush-before", "write-after", "commit-before")


def _worker_main(argv: list[str]) -> int:
    from skybridge.backends.kv.base import KeyValueStore as Store
    from skybridge.runtime.worker import run_worker
    from skybridge.runtime.writes import WriteSet

    source, kv_url, topic, phase, n = argv
    calls = {"n": 0}

    def tick() -> None:
        calls["n"] += 1
        if calls["n"] >= int(n):
            os.kill(os.getpid(), signal.SIGKILL)

    def around(cls: Any, name: str, before: bool) -> None:
        original = getattr(cls, name)

        def crashing(*args: Any, **kwargs: Any) -> Any:
            if before:
                tick()
            done = original(*args, **kwargs)
            if not before:
                tick()
            return done

        setattr(cls, name, crashing)

    from skybridge.runtime import batch, runner

    targets = {
        "handler": (batch.BatchProcessor, "_window", True),
        "flush-before": (WriteSet, "flush", True),
        "write-after": (Store, "write_batch", False),
        "commit-before": (runner.PipelineRunner, "_commit", True),
    }
    if phase in targets:
        around(*targets[phase])
    kv = kv_family.connect(kv_url, setting=None)
    clock: Clock = SystemClock()
    run_worker(windowed(source, kv, topic, idle_timeout=1.0, clock=clock), idle_exit=3.0)
    return 0


@settings(
    max_examples=2,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(crash=st.tuples(st.sampled_from(PHASES), st.integers(1, 6)))
def test_kill_9_emits_every_window_result_once(tmp_path: Path, crash: tuple[str, int]) -> None:
    source = f"sqlite:///{tmp_path}/log-{uuid.uuid4().hex[:6]}.db?session_timeout=1"
    topic = f"w-{uuid.uuid4().hex[:8]}"
    backend = streams_family.connect(source, setting=None)
    backend.create_topic(topic, 2)
    # Event times far in the past, in order per key: windows close by idle time at the end.
    items = events(100, step=0.3)  # up to 29.7 s: the last window ends at 30
    produce(backend, topic, items)
    kv = tmp_path / f"kv-{uuid.uuid4().hex[:6]}"  # one per example: tmp_path is shared
    kv.mkdir()
    kv_url = f"sqlite:///{kv}/kv.db"
    phase, n = crash
    command = [sys.executable, __file__, source, kv_url, topic]
    first = subprocess.Popen([*command, phase, str(n)], cwd=Path(__file__).parent)
    assert first.wait(timeout=60) in (0, -signal.SIGKILL)
    final = subprocess.Popen([*command, "none", "0"], cwd=Path(__file__).parent)
    assert final.wait(timeout=90) == 0
    check(kv_family.connect(kv_url, setting=None), items)


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))

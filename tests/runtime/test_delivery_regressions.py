"""Regressions from the delivery review: dead letters before the flush, no effects of a
dead-lettered record, stops during start-up, replay keeping the original record's time."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.streams import Message, StreamBackend
from skybridge.core.errors import TransientError
from skybridge.core.retry import RetryPolicy
from skybridge.runtime import runner as runner_mod
from skybridge.runtime.batch import BatchProcessor
from skybridge.runtime.deadletter import DeadLetters, dead_letter, ensure_dlq
from skybridge.runtime.outputs import Emit, Event, Put, Update
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import KVSink, StreamSink
from skybridge.runtime.state import GuardedStore
from skybridge.runtime.windows import WindowResult, counter, tumbling
from skybridge.runtime.worker import run_worker
from skybridge.runtime.writes import StaleDocuments, WriteSet

ONCE = RetryPolicy(attempts=1, base_delay=0.01, max_delay=0.01, deadline=1)


@pytest.fixture
def log(tmp_path: Path) -> StreamBackend:
    backend = streams_family.connect(f"sqlite:///{tmp_path}/log.db?session_timeout=2")
    backend.create_topic("t", 1)
    return backend


@pytest.fixture
def kv(tmp_path: Path) -> KeyValueStore:
    return kv_family.connect(f"sqlite:///{tmp_path}/kv.db", setting=None)


def produce(log: StreamBackend, *values: Any, key: bytes = b"a") -> None:
    log.produce("t", [Message(json.dumps(v).encode(), key) for v in values])


def letters(log: StreamBackend) -> list[Any]:
    return DeadLetters(log, "t", idle_timeout=0.5).letters()


# -- A: dead letters are produced before the kv flush -------------------------------------


class DlqDown:
    """The same log, but producing to a dead-letter topic fails (a DLQ broker hiccup)."""

    def __init__(self, inner: StreamBackend) -> None:
        self._inner = inner

    def produce(self, topic: str, messages: Any) -> Any:
        if topic.endswith(".dlq"):
            raise TransientError("dlq unavailable")
        return self._inner.produce(topic, messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def poison_or_count(state: Any, event: Event) -> tuple[Any, list[Any]]:
    if event.value == "poison":
        raise ValueError("cannot handle")
    n = (state or 0) + 1
    return n, [Put(f"seen/{event.key}", n)]


def test_a_failed_dead_letter_produce_leaves_the_batch_unflushed(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, "poison", "ok")

    def pipeline(source: Any) -> Pipeline:
        return Pipeline(
            "p",
            source=source,
            topics=["t"],
            stateful=poison_or_count,
            state=kv,
            sinks={"kv": KVSink(kv)},
            sink_retry=ONCE,
        )

    with pytest.raises(TransientError):
        pipeline(DlqDown(log)).run(idle_exit=0.5)
    assert log.total_lag("p", "t") == 2
    assert GuardedStore(kv, "state/p/").get("a") is None  # the flush never happened

    assert pipeline(log).run(idle_exit=0.5).dead_letters == 1
    assert log.total_lag("p", "t") == 0
    assert [d.offset for d in letters(log)] == [0]
    assert GuardedStore(kv, "state/p/").get("a") == 1


def test_a_stale_redo_neither_handles_nor_letters_a_record_twice(
    log: StreamBackend, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce(log, "poison", "ok")
    calls: list[Any] = []

    def handler(state: Any, event: Event) -> tuple[Any, list[Any]]:
        calls.append(event.value)
        return poison_or_count(state, event)

    real_flush = WriteSet.flush
    flushes = {"n": 0}

    def stale_once(self: WriteSet) -> int:
        flushes["n"] += 1
        if flushes["n"] == 1:
            raise StaleDocuments("changed under us")
        return real_flush(self)

    monkeypatch.setattr(WriteSet, "flush", stale_once)
    pipe = Pipeline(
        "p", source=log, topics=["t"], stateful=handler, state=kv, sinks={"kv": KVSink(kv)}
    )
    produced: list[list[Any]] = []
    processor = BatchProcessor(pipe, GuardedStore(kv, "state/p/"), letters_out=produced.append)
    with log.consumer("p", ["t"]) as consumer:
        consumer.wait_for_assignment(5)
        batch = consumer.poll(10, 1.0)
    result = processor.process(batch)
    assert flushes["n"] == 2
    assert [[r.offset for r, _ in sent] for sent in produced] == [[0]]  # once, before a flush
    assert [r.offset for r, _ in result.letters] == [0]
    assert calls == ["poison", "ok", "ok"]  # the redo left the dead-lettered record out
    assert GuardedStore(kv, "state/p/").get("a") == 1


def test_a_duplicate_letter_is_listed_and_replayed_once(log: StreamBackend) -> None:
    produce(log, "x")
    with log.consumer("g", ["t"]) as consumer:
        consumer.wait_for_assignment(5)
        (record,) = consumer.poll(10, 1.0)
    letter = dead_letter(record, ValueError("x"), "p")
    log.produce(ensure_dlq(log, "t"), [letter, letter])  # a worker died before its flush
    (listed,) = letters(log)
    assert listed.id == "0:0"
    assert not listed.replayed
    replayed = DeadLetters(log, "t", idle_timeout=0.5).replay(["0:1"])  # the duplicate's id
    assert [d.id for d in replayed] == ["0:0"]
    assert [d.replayed for d in letters(log)] == [True]
    assert DeadLetters(log, "t", idle_timeout=0.5).replay() == []
    assert log.end_offsets("t") == {0: 2}  # republished once


# -- B: a dead-lettered record leaves no kv, state or window effect -----------------------


def test_b_a_record_a_sink_refuses_keeps_no_state_or_kv_effect(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    def handler(state: Any, event: Event) -> tuple[Any, list[Any]]:
        n = (state or 0) + 1
        return n, [
            Update(f"hits/{event.key}", lambda c: (c or 0) + 1),
            Emit("out", {"key": event.key, "n": n}),  # no topic 'out' yet: NotFound
        ]

    def pipeline() -> Pipeline:
        return Pipeline(
            "p",
            source=log,
            topics=["t"],
            stateful=handler,
            state=kv,
            sinks={"kv": KVSink(kv), "stream": StreamSink(log)},
        )

    produce(log, 1)
    assert pipeline().run(idle_exit=0.5).dead_letters == 1
    assert (KVSink(kv).get("hits/a"), GuardedStore(kv, "state/p/").get("a")) == (None, None)

    log.create_topic("out", 1)
    DeadLetters(log, "t", idle_timeout=0.5).replay()
    pipeline().run(idle_exit=0.5)
    assert (KVSink(kv).get("hits/a"), GuardedStore(kv, "state/p/").get("a")) == (1, 1)


def test_b_a_refused_record_does_not_change_the_state_later_records_see(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, 1, "x", 3)
    pipe = Pipeline(
        "p",
        source=log,
        topics=["t"],
        stateful=lambda s, e: (
            [*(s or []), e.value],
            [Put(f"v/{e.record.offset}", {e.value} if e.value == "x" else e.value)],  # set: no JSON
        ),
        state=kv,
        sinks={"kv": KVSink(kv)},
    )
    assert pipe.run(idle_exit=0.5).dead_letters == 1
    assert [KVSink(kv).get(f"v/{i}") for i in range(3)] == [1, None, 3]
    assert GuardedStore(kv, "state/p/").get("a") == [1, 3]


def test_b_a_record_the_handler_dead_letters_is_not_folded_into_windows(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    healthy = {"ok": False}

    def handler(event: Event) -> list[Any]:
        if not healthy["ok"] and event.value.get("enrich"):
            raise TransientError("enrichment service down")
        return []

    def pipeline() -> Pipeline:
        return Pipeline(
            "w",
            source=log,
            topics=["t"],
            handler=handler,
            state=kv,
            sinks={"kv": KVSink(kv)},
            window=tumbling(60),
            aggregate=counter(),
            timestamp=lambda e: float(e.value["t"]),
            retry=ONCE,
        )

    produce(log, {"t": 10, "enrich": True}, {"t": 20})
    assert pipeline().run(idle_exit=0.5).dead_letters == 1
    healthy["ok"] = True
    assert [d.offset for d in DeadLetters(log, "t", idle_timeout=0.5).replay()] == [0]
    produce(log, {"t": 100})  # closes [0, 60)
    pipeline().run(idle_exit=0.5)
    assert KVSink(kv).get("w/a/0.0") == {"start": 0.0, "end": 60.0, "value": 2, "update": False}


def test_b_a_refused_window_result_letters_only_the_record_that_closed_it(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    def on_window(result: WindowResult[Any]) -> list[Any]:
        value = {"bad"} if result.window.start == 0 else result.value  # a set is not JSON
        return [Put(f"w/{result.window.start}", value)]

    pipe = Pipeline(
        "w",
        source=log,
        topics=["t"],
        handler=lambda e: [Put(f"seen/{e.value['t']}", True)],
        state=kv,
        sinks={"kv": KVSink(kv)},
        window=tumbling(60),
        aggregate=counter(),
        timestamp=lambda e: float(e.value["t"]),
        on_window=on_window,
    )
    produce(log, {"t": 10}, {"t": 20}, {"t": 100}, {"t": 110}, {"t": 200})
    assert pipe.run(idle_exit=0.5).dead_letters == 1
    assert [d.offset for d in letters(log)] == [2]  # t=100 closed [0, 60)
    assert KVSink(kv).get("w/60.0") == 2  # no cascade onto the records after it
    assert all(KVSink(kv).get(f"seen/{t}") for t in (10, 20, 100, 110, 200))


# -- C: a stop during start-up is honoured ------------------------------------------------


def test_c_sigterm_while_connecting_stops_the_worker(
    tmp_path: Path, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/slow.db?session_timeout=2"
    streams_family.connect(url).create_topic("t", 1)
    real = runner_mod.streams_family.connect

    def slow_connect(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.5)  # a slow broker or DNS during start-up
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_mod.streams_family, "connect", slow_connect)
    pipe = Pipeline(
        "p", source=url, topics=["t"], handler=lambda e: [Put("x", 1)], sinks={"kv": KVSink(kv)}
    )
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGTERM))
    timer.start()
    started = time.monotonic()
    run_worker(pipe, idle_exit=30.0)
    timer.join()
    assert time.monotonic() - started < 10.0  # the SIGTERM, not the idle exit, ended it


def test_c_a_stop_before_run_is_honoured_once(log: StreamBackend, kv: KeyValueStore) -> None:
    produce(log, 1)
    pipe = Pipeline(
        "p", source=log, topics=["t"], handler=lambda e: [Put("x", 1)], sinks={"kv": KVSink(kv)}
    )
    pipe.stop()
    assert pipe.run(idle_exit=0.3).records == 0
    assert pipe.run(idle_exit=0.3).records == 1  # the stop was for that run only


# -- D: replay keeps the original record's timestamp and partition ------------------------


def test_d_replay_keeps_the_timestamp_and_partition(log: StreamBackend) -> None:
    log.create_topic("t2", 3)
    log.produce("t2", [Message(b"{}", b"a", partition=2, timestamp=1000.0)])
    with log.consumer("g", ["t2"]) as consumer:
        consumer.wait_for_assignment(5)
        (original,) = consumer.poll(10, 1.0)
    log.produce(ensure_dlq(log, "t2"), [dead_letter(original, ValueError("x"), "p")])
    (letter,) = DeadLetters(log, "t2", idle_timeout=0.5).replay()
    assert (letter.timestamp, letter.partition) == (1000.0, 2)
    with log.consumer("g2", ["t2"]) as consumer:
        consumer.wait_for_assignment(5)
        records = consumer.poll(10, 1.0)
    assert [(r.partition, r.offset, r.timestamp) for r in records] == [
        (2, 0, 1000.0),
        (2, 1, 1000.0),
    ]

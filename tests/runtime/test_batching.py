"""Adaptive batches: a batch takes what is waiting, up to ``batch_size`` or ``batch_wait``."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.streams import Consumer, Message, Record, TopicPartition
from skybridge.core.errors import ConfigError, NotFound, TransientError
from skybridge.core.retry import RetryPolicy
from skybridge.runtime import runner
from skybridge.runtime.outputs import Event
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.runner import gather


def records(start: int, count: int) -> list[Record]:
    return [Record("t", 0, i, b"k", b"{}") for i in range(start, start + count)]


class ScriptedConsumer(Consumer):
    """Hands out one scripted chunk per poll, at most what was asked (``[]`` once the script
    is used up); ``endless``: one record on every poll."""

    group, topics = "g", ("t",)

    def __init__(self, chunks: list[list[Record]], *, endless: bool = False) -> None:
        self.chunks, self.endless = chunks, endless
        self.polls: list[tuple[int, float]] = []

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        self.polls.append((max_records, timeout))
        if self.endless:
            return records(len(self.polls), 1)
        chunk = self.chunks.pop(0) if self.chunks else []
        if len(chunk) > max_records:  # the rest stays queued for the next poll
            self.chunks.insert(0, chunk[max_records:])
        return chunk[:max_records]

    def commit(self, offsets: Mapping[TopicPartition, int] | None = None) -> None: ...

    def seek(self, partition: TopicPartition, offset: int) -> None: ...

    def position(self, partition: TopicPartition) -> int | None:
        return None

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("t", 0)}

    def close(self) -> None: ...


def pipeline(**options: object) -> Pipeline:
    return Pipeline("p", source="sqlite:///unused.db", topics=["t"], handler=lambda e: [],
                    **options)  # type: ignore[arg-type]  # fmt: skip


def test_a_batch_takes_every_chunk_already_waiting() -> None:
    consumer = ScriptedConsumer([records(0, 3), records(3, 3), records(6, 2)])
    batch = gather(consumer, pipeline(batch_size=100, poll_timeout=0.5))
    assert [r.offset for r in batch] == list(range(8))
    # The first poll may wait for records; the others only take what is already there.
    assert consumer.polls == [(100, 0.5), (97, 0), (94, 0), (92, 0)]


def test_a_batch_stops_at_batch_size() -> None:
    consumer = ScriptedConsumer([records(0, 3), records(3, 3), records(6, 3)])
    batch = gather(consumer, pipeline(batch_size=5))
    assert [r.offset for r in batch] == list(range(5))
    assert [asked for asked, _ in consumer.polls] == [5, 2]


def test_a_quiet_stream_gets_its_records_at_once() -> None:
    consumer = ScriptedConsumer([records(0, 1)])
    started = time.monotonic()
    assert len(gather(consumer, pipeline(batch_size=10_000, batch_wait=30.0))) == 1
    assert time.monotonic() - started < 10.0, "a batch never waits to fill"


def test_a_batch_stops_after_batch_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock that each poll moves on by 1/64 s (exact in binary): the bound is checked against
    # the batch's own deadline, not against how busy the machine running the test happens to be.
    step = 1 / 64
    now = [1000.0]
    consumer = ScriptedConsumer([], endless=True)  # a record is always waiting
    poll = consumer.poll

    def timed_poll(max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        now[0] += step
        return poll(max_records, timeout)

    monkeypatch.setattr(consumer, "poll", timed_poll)
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: now[0]))
    batch = gather(consumer, pipeline(batch_size=10**9, batch_wait=4 * step))
    # The first poll, then one per step until batch_wait after it: 1 + 4 polls, a record each.
    assert len(batch) == len(consumer.polls) == 5


def test_nothing_waiting_is_an_empty_batch() -> None:
    consumer = ScriptedConsumer([])
    assert gather(consumer, pipeline()) == []
    assert len(consumer.polls) == 1


class Throttled(ScriptedConsumer):
    """A consumer whose polls numbered in ``refused`` (from 1) fail as throttled."""

    def __init__(self, chunks: list[list[Record]], refused: set[int]) -> None:
        super().__init__(chunks)
        self.refused = refused

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        if len(self.polls) + 1 in self.refused:
            self.polls.append((max_records, timeout))
            raise TransientError("kinesis: ProvisionedThroughputExceededException")
        return super().poll(max_records, timeout)


def test_a_poll_refused_as_transient_is_tried_again() -> None:
    consumer = Throttled([records(0, 3)], refused={1, 2})
    quick = RetryPolicy(attempts=5, base_delay=0.001, max_delay=0.01, deadline=5)
    batch = gather(consumer, pipeline(sink_retry=quick))
    assert [r.offset for r in batch] == [0, 1, 2]  # the worker went on, no restart


def test_a_poll_refused_after_records_were_taken_ends_the_batch_with_them() -> None:
    consumer = Throttled([records(0, 3), records(3, 3)], refused={2})
    assert [r.offset for r in gather(consumer, pipeline())] == [0, 1, 2]
    assert [r.offset for r in gather(consumer, pipeline())] == [3, 4, 5]  # the next one reads on


def test_a_stop_ends_the_retries_of_a_failing_poll_at_once() -> None:
    consumer = Throttled([], refused=set(range(1, 1000)))
    slow = RetryPolicy(attempts=1000, base_delay=2.0, max_delay=2.0, deadline=600)
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.monotonic()
    assert gather(consumer, pipeline(sink_retry=slow), stop=stop) == []  # no error: stopped
    assert time.monotonic() - started < 2.0


def test_another_error_after_records_were_taken_is_left_for_after_the_batch() -> None:
    class Failing(ScriptedConsumer):
        def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
            if self.polls:
                raise NotFound("subscribed topic not available: gone")
            return super().poll(max_records, timeout)

    deferred: list[Exception] = []
    batch = gather(Failing([records(0, 3)]), pipeline(), deferred=deferred)
    assert [r.offset for r in batch] == [0, 1, 2]
    assert [type(e) for e in deferred] == [NotFound]
    with pytest.raises(NotFound):  # without a place to leave it, it is raised at once
        gather(Failing([records(0, 3)]), pipeline())


def test_batch_wait_must_not_be_negative() -> None:
    with pytest.raises(ConfigError, match="batch_wait"):
        pipeline(batch_wait=-1)


def test_a_backlog_is_handled_in_batches_of_batch_size(tmp_path: Path) -> None:
    log = streams_family.connect(f"sqlite:///{tmp_path}/log.db", setting=None)
    log.create_topic("t", 2)
    log.produce("t", [Message(b"%d" % i, key=b"k%d" % (i % 7)) for i in range(250)])
    kv = kv_family.connect(f"sqlite:///{tmp_path}/kv.db", setting=None)
    seen: list[int] = []

    def count(state: int | None, event: Event) -> tuple[int, list[object]]:
        seen.append(event.value)
        return (state or 0) + 1, []

    p = Pipeline("backlog", source=log, topics=["t"], stateful=count, state=kv, batch_size=100)
    stats = p.run(idle_exit=0.3)
    assert stats.records == 250
    assert sorted(seen) == list(range(250))
    assert stats.batches == 3  # 100 + 100 + 50: full batches while the backlog lasts

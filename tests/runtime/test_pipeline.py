"""The pipeline engine on the embedded backends: handlers, guarded sinks, state, dead letters."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.notify.base import Notifier
from skybridge.backends.notify.message import Message as NotifyMessage
from skybridge.backends.notify.message import Notification
from skybridge.backends.sql import create_sql_engine
from skybridge.backends.streams import Message, StreamBackend
from skybridge.core.errors import ConfigError, Conflict, TransientError
from skybridge.core.observability import METRICS
from skybridge.core.retry import RetryPolicy
from skybridge.runtime import runner as runner_module
from skybridge.runtime.deadletter import DeadLetters
from skybridge.runtime.outputs import EVENT_ID_HEADER, Alert, Emit, Event, Put, Update, Upsert
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.runner import PipelineRunner
from skybridge.runtime.sinks import KVSink, NotifySink, SQLSink, StreamSink
from skybridge.runtime.state import Change, Guarded, GuardedStore, fold
from skybridge.testing.groups import member_holding


@pytest.fixture
def log(tmp_path: Path) -> StreamBackend:
    backend = streams_family.connect(f"sqlite:///{tmp_path}/log.db?session_timeout=2")
    backend.create_topic("events", 2)
    return backend


@pytest.fixture
def kv(tmp_path: Path) -> KeyValueStore:
    return kv_family.connect(f"sqlite:///{tmp_path}/kv.db", setting=None)


def produce(log: StreamBackend, items: list[tuple[str, Any]], topic: str = "events") -> None:
    log.produce(topic, [Message(json.dumps(v).encode(), k.encode()) for k, v in items])


def counting(state: Any, event: Event) -> tuple[Any, list[Any]]:
    n = (state or 0) + 1
    return n, [
        Put(f"seen/{event.key}", n),
        Update(f"hits/{event.key}", lambda c: (c or 0) + 1),
    ]


def counter_pipeline(log: StreamBackend, kv: KeyValueStore, **extra: Any) -> Pipeline:
    options: dict[str, Any] = {
        "name": "counts",
        "topics": ["events"],
        "stateful": counting,
        "state": kv,
    }
    options.update(extra)
    return Pipeline(source=log, sinks={"kv": KVSink(kv)}, **options)


def test_stateful_counts_and_commits(log: StreamBackend, kv: KeyValueStore) -> None:
    produce(log, [("a", 1), ("b", 2), ("a", 3)])
    stats = counter_pipeline(log, kv).run(idle_exit=0.3)
    sink = KVSink(kv)
    assert stats.records == 3
    assert (sink.get("seen/a"), sink.get("hits/a"), sink.get("hits/b")) == (2, 2, 1)
    assert GuardedStore(kv, "state/counts/").get("a") == 2
    assert log.total_lag("counts", "events") == 0
    produce(log, [("a", 4)])
    counter_pipeline(log, kv).run(idle_exit=0.3)
    assert sink.get("hits/a") == 3


def test_idle_exit_gives_up_when_other_members_hold_every_partition(
    log: StreamBackend, kv: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "ASSIGNMENT_WAIT", 1.5)
    log.create_topic("single", 1)
    produce(log, [("a", 1)], topic="single")
    with member_holding(log, "counts", ["single"]):
        started = time.monotonic()
        with pytest.raises(Conflict, match=r"no partition of single in 2 s.*'counts' hold them"):
            counter_pipeline(log, kv, topics=["single"]).run(idle_exit=0.3)
        assert 1.5 <= time.monotonic() - started < 5
    assert log.total_lag("counts", "single") == 1  # nothing taken from the other member
    once_it_left = counter_pipeline(log, kv, topics=["single"]).run(idle_exit=0.3)
    assert once_it_left.records == 1


def test_a_batch_processed_twice_applies_its_effects_once(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, [("a", i) for i in range(5)] + [("b", 0)])
    runner = PipelineRunner(counter_pipeline(log, kv))
    with log.consumer("counts", ["events"]) as consumer:
        consumer.wait_for_assignment(5)
        batch = consumer.poll(100, 1.0)
    runner.processor.process(batch)  # "crash" before commit ...
    second = runner.processor.process(batch)  # ... and the batch comes again
    assert second.skipped == len(batch)
    assert KVSink(kv).get("hits/a") == 5


def test_pure_handler_replay_skips_applied_updates(log: StreamBackend, kv: KeyValueStore) -> None:
    produce(log, [("a", 1), ("a", 2)])
    pipe = Pipeline(
        "pure",
        source=log,
        topics=["events"],
        handler=lambda e: [Update("total", lambda c, v=e.value: (c or 0) + v)],
        sinks={"kv": KVSink(kv)},
    )
    runner = PipelineRunner(pipe)
    with log.consumer("x", ["events"]) as consumer:
        consumer.wait_for_assignment(5)
        batch = consumer.poll(100, 1.0)
    runner.processor.process(batch[:1])
    runner.processor.process(batch)
    assert KVSink(kv).get("total") == 3


@settings(max_examples=40, deadline=None)
@given(
    offsets=st.lists(st.integers(0, 20), min_size=1, max_size=15),
    split=st.integers(0, 15),
)
def test_fold_applies_each_offset_once_whatever_the_replays(offsets: list[int], split: int) -> None:
    ordered = sorted(set(offsets))
    changes = [Change("t/0", o, lambda c: (c or 0) + 1) for o in ordered]
    first = fold(Guarded(), changes[:split]) or Guarded()
    again = fold(first, changes) or first  # the whole run delivered again
    assert again.value == len(ordered)
    assert fold(again, changes) is None


def test_transient_handler_errors_are_retried(log: StreamBackend, kv: KeyValueStore) -> None:
    produce(log, [("a", 1)])
    calls = {"n": 0}

    def flaky(event: Event) -> list[Any]:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TransientError("busy")
        return [Put("ok", event.value)]

    Pipeline("flaky", source=log, topics=["events"], handler=flaky, sinks={"kv": KVSink(kv)}).run(
        idle_exit=0.3
    )
    assert calls["n"] == 3
    assert KVSink(kv).get("ok") == 1


@pytest.mark.parametrize(("attempts", "delivered"), [(3, True), (2, False)])
def test_handler_attempts_are_exactly_the_policy(
    log: StreamBackend, kv: KeyValueStore, attempts: int, delivered: bool
) -> None:
    produce(log, [("a", 1)])
    calls = {"n": 0}

    def twice_busy(event: Event) -> list[Any]:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise TransientError("busy")
        return [Put("ok", event.value)]

    policy = RetryPolicy(attempts=attempts, base_delay=0.0)
    Pipeline(
        "attempts",
        source=log,
        topics=["events"],
        handler=twice_busy,
        sinks={"kv": KVSink(kv)},
        retry=policy,
    ).run(idle_exit=0.3)
    assert calls["n"] == min(attempts, 3)
    assert (KVSink(kv).get("ok") == 1) is delivered


def test_poison_record_goes_to_the_dlq_and_replays_after_a_fix(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    broken = {"on": True}

    def handler(event: Event) -> list[Any]:
        if broken["on"] and event.value == "bad":
            raise KeyError("no field 'user'")
        return [Update("count", lambda c: (c or 0) + 1)]

    log.produce(
        "events",
        [
            Message(b'"good"', b"k1"),
            Message(b'"bad"', b"k2", [("trace", b"abc")]),
            Message(b"not json", b"k3"),
            Message(b'"good"', b"k1"),
        ],
    )
    pipe = Pipeline("dl", source=log, topics=["events"], handler=handler, sinks={"kv": KVSink(kv)})
    stats = pipe.run(idle_exit=0.3)
    assert stats.dead_letters == 2
    assert KVSink(kv).get("count") == 2

    letters = DeadLetters(log, "events", idle_timeout=0.5).letters()
    by_type = {d.error_type: d for d in letters}
    assert set(by_type) == {"KeyError", "JSONDecodeError"}
    bad = by_type["KeyError"]
    assert ("trace", b"abc") in bad.headers
    assert "no field 'user'" in bad.error
    assert bad.pipeline == "dl"
    assert bad.topic == "events"
    assert bad.value == b'"bad"'
    assert not bad.replayed

    broken["on"] = False
    replayed = DeadLetters(log, "events", idle_timeout=0.5).replay([bad.id])
    assert [d.id for d in replayed] == [bad.id]
    pipe.run(idle_exit=0.3)
    assert KVSink(kv).get("count") == 3
    after = {d.id: d.replayed for d in DeadLetters(log, "events", idle_timeout=0.5).letters()}
    assert after[bad.id] is True
    assert list(after.values()).count(False) == 1
    # A replayed letter is not replayed twice.
    assert [d.error_type for d in DeadLetters(log, "events", idle_timeout=0.5).replay()] == [
        "JSONDecodeError"
    ]


def test_a_sink_refusing_one_record_dead_letters_only_that_record(
    log: StreamBackend, kv: KeyValueStore
) -> None:
    produce(log, [("a", 1), ("a", "x"), ("a", 3)])
    pipe = Pipeline(
        "refuse",
        source=log,
        topics=["events"],
        # a set is not JSON: the kv sink refuses the second record's output only
        handler=lambda e: [Put(f"v/{e.record.offset}", {e.value} if e.value == "x" else e.value)],
        sinks={"kv": KVSink(kv)},
    )
    assert pipe.run(idle_exit=0.3).dead_letters == 1
    assert [KVSink(kv).get(f"v/{i}") for i in range(3)] == [1, None, 3]


def test_stream_sql_and_notify_sinks(log: StreamBackend, kv: KeyValueStore, tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path}/out.db")
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE users (id TEXT PRIMARY KEY, total INTEGER, "
                "_sb_source TEXT, _sb_offset INTEGER)"
            )
        )
    sent: list[NotifyMessage] = []

    class Recorder(Notifier):
        def _deliver(self, message: NotifyMessage) -> str | None:
            sent.append(message)
            return None

        def describe(self) -> str:
            return "recorder"

        @classmethod
        def from_url(cls, url: Any, **options: Any) -> Recorder:
            return cls()

        def ping(self) -> None:
            return None

    log.create_topic("enriched", 1)
    produce(log, [("u1", 5), ("u1", 7)])

    def handler(event: Event) -> list[Any]:
        return [
            Emit("enriched", {"user": event.key, "v": event.value}, key=event.key),
            Upsert("users", {"id": event.key, "total": event.value}),
            Alert(Notification(title=f"big {event.value}", dedup_key=event.event_id)),
        ]

    sinks = {
        "stream": StreamSink(log),
        "sql": SQLSink(engine, {"users": ["id"]}),
        "notify": NotifySink(Recorder(), kv),
    }
    pipe = Pipeline("multi", source=log, topics=["events"], handler=handler, sinks=sinks)
    runner = PipelineRunner(pipe)
    with log.consumer("multi", ["events"]) as consumer:
        consumer.wait_for_assignment(5)
        batch = consumer.poll(100, 1.0)
        runner.process(consumer, batch)
    runner.processor.process(batch[:1])  # a stale redelivery of the first record
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, total FROM users")).all() == [("u1", 7)]
    assert [m.title for m in sent] == ["big 5", "big 7"]
    with log.consumer("reader", ["enriched"]) as reader:
        reader.wait_for_assignment(5)
        records = reader.poll(100, 1.0)
    assert json.loads(records[0].value) == {"user": "u1", "v": 5}
    assert (
        dict(records[0].headers)[EVENT_ID_HEADER]
        == f"{batch[0].topic}/{batch[0].partition}/{batch[0].offset}/0".encode()
    )


def test_metrics_count_records_and_dead_letters(log: StreamBackend, kv: KeyValueStore) -> None:
    produce(log, [("a", 1), ("b", 2)])
    log.produce("events", [Message(b"{", b"c")])
    counter_pipeline(log, kv, name="metered").run(idle_exit=0.3)
    value = METRICS.get_sample_value
    assert value("skybridge_pipeline_records_in_total", {"pipeline": "metered"}) == 3
    assert (
        value(
            "skybridge_pipeline_dead_letters_total",
            {"pipeline": "metered", "error": "JSONDecodeError"},
        )
        == 1
    )
    assert value("skybridge_pipeline_records_out_total", {"pipeline": "metered", "sink": "kv"}) == 4
    assert value("skybridge_pipeline_batch_seconds_count", {"pipeline": "metered"}) >= 1
    assert value("skybridge_consumer_group_lag", {"group": "metered", "topic": "events"}) == 0


def test_declaration_errors() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        Pipeline("p", source="sqlite:///x.db", topics=["t"])
    with pytest.raises(ConfigError, match="no state"):
        Pipeline("p", source="sqlite:///x.db", topics=["t"], stateful=counting)


def test_a_printed_pipeline_shows_no_password() -> None:
    pipeline = Pipeline(
        "p",
        source="kafka://user:kpw-4711@127.0.0.1:1?sasl_password=sasl-4711",
        topics=["t"],
        handler=lambda event: [],
        state="redis://:rpw-4711@127.0.0.1:6379/0",
    )
    shown = repr(pipeline)
    assert "4711" not in shown
    assert "kafka://user:***@127.0.0.1:1" in shown
    assert pipeline.source == "kafka://user:kpw-4711@127.0.0.1:1?sasl_password=sasl-4711"


def test_a_sql_sink_whose_database_is_locked_stops_the_batch_and_dead_letters_nothing(
    log: StreamBackend, tmp_path: Path
) -> None:
    # A database that is down or locked is no reason to dead-letter the records: the batch
    # stops uncommitted (TransientError after sink_retry) and comes again once it is back.
    path = tmp_path / "target.db"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.05})
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE users (id TEXT PRIMARY KEY, total INTEGER, "
                "_sb_source TEXT, _sb_offset INTEGER)"
            )
        )
    produce(log, [("u1", 5), ("u2", 7)])

    def handler(event: Event) -> list[Any]:
        return [Upsert("users", {"id": event.key, "total": event.value})]

    quick = RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.02, deadline=2)
    sinks = {"sql": SQLSink(engine, {"users": ["id"]})}
    pipe = Pipeline(
        "locked", source=log, topics=["events"], handler=handler, sinks=sinks, sink_retry=quick
    )
    runner = PipelineRunner(pipe)
    holder = sqlite3.connect(path)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with log.consumer("locked", ["events"]) as consumer:
            consumer.wait_for_assignment(5)
            batch = consumer.poll(100, 1.0)
            with pytest.raises(TransientError, match="SQL sink writing users: database is locked"):
                runner.process(consumer, batch)
    finally:
        holder.rollback()
        holder.close()
    assert DeadLetters(log, "events").letters() == []
    assert set(log.committed("locked", "events").values()) == {None}
    pipe.run(idle_exit=2)  # the database is back: the same records are written
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, total FROM users ORDER BY id")).all() == [
            ("u1", 5),
            ("u2", 7),
        ]


def test_a_sql_sink_table_without_its_guard_columns_stops_the_pipeline_not_the_records(
    log: StreamBackend, tmp_path: Path
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/t.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE users (id TEXT PRIMARY KEY, total INTEGER)"))
    produce(log, [("u1", 5)])
    for table in ("users", "nowhere"):
        sinks = {"sql": SQLSink(engine, {table: ["id"]})}

        def upsert(event: Event, table: str = table) -> list[Any]:
            return [Upsert(table, {"id": event.key, "total": event.value})]

        pipe = Pipeline(
            f"guard-{table}", source=log, topics=["events"], handler=upsert, sinks=sinks
        )
        runner = PipelineRunner(pipe)
        with log.consumer(f"guard-{table}", ["events"]) as consumer:
            consumer.wait_for_assignment(5)
            batch = consumer.poll(100, 1.0)
            expected = "lacks the column" if table == "users" else "does not exist"
            with pytest.raises(ConfigError, match=expected):
                runner.process(consumer, batch)
        assert set(log.committed(f"guard-{table}", "events").values()) == {None}
    assert DeadLetters(log, "events").letters() == []

"""The stream path end to end: publish -> consumer pipeline -> target, on the embedded log
into SQLite, Kafka into PostgreSQL and Kinesis (moto) into PostgreSQL; bad events go to the
dead-letter topic with the reason, and the pipeline goes on.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Engine
from tests.apps.datasync.conftest import TABLES, change
from tests.apps.datasync.test_target import actual, expected

from skybridge.apps.datasync.stream import build_stream, publish
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends import streams as streams_family
from skybridge.backends.streams import StreamBackend
from skybridge.runtime.deadletter import DeadLetters


def _history() -> list[Any]:
    """Changes of 8 orders: duplicates, versions out of order, deletes."""
    events = [(k, v) for v in (1, 3, 2, 3, 5, 4) for k in range(1, 9)]
    return [change(k, v, f"s{v}", op="delete" if (k, v) == (2, 5) else "upsert") for k, v in events]


def _sync(backend: StreamBackend, target: SqlTarget, topic: str) -> None:
    backend.create_topic(topic, 3)
    history = _history()
    assert publish(backend, topic, history, TABLES) == len(history)
    pipeline = build_stream(backend, topic, target, batch_size=16, group=f"g-{topic}")
    stats = pipeline.run(idle_exit=1.5)
    assert stats.records == len(history)
    assert actual(target) == expected(history)
    assert backend.total_lag(f"g-{topic}", topic) == 0  # every offset committed


def test_embedded_log_into_sqlite(tmp_path: Any, sqlite_engine: Engine) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    backend = streams_family.connect(f"sqlite:///{tmp_path / 'log.db'}", setting=None)
    _sync(backend, target, "changes")


@pytest.mark.kafka
@pytest.mark.postgres
def test_kafka_into_postgresql(kafka_server: Any, pg_database: Any) -> None:
    target = SqlTarget(pg_database(), TABLES)
    target.create()
    backend = streams_family.connect(f"{kafka_server.url}?session_timeout=6", setting=None)
    _sync(backend, target, f"changes-{uuid.uuid4().hex[:6]}")


@pytest.mark.moto
@pytest.mark.postgres
def test_kinesis_into_postgresql(moto_server: Any, pg_database: Any, tmp_path: Any) -> None:
    target = SqlTarget(pg_database(), TABLES)
    target.create()
    checkpoints = quote(f"sqlite:///{tmp_path}/ckpt.db", safe="")
    backend = streams_family.connect(
        f"kinesis://ds-?region=us-east-1&endpoint_url={moto_server.url}"
        f"&checkpoints={checkpoints}&poll_interval=0.05",
        setting=None,
    )
    _sync(backend, target, f"changes-{uuid.uuid4().hex[:6]}")


def test_bad_events_are_dead_lettered_with_the_reason(tmp_path: Any, sqlite_engine: Engine) -> None:
    target = SqlTarget(sqlite_engine, TABLES)
    target.create()
    backend = streams_family.connect(f"sqlite:///{tmp_path / 'log.db'}", setting=None)
    backend.create_topic("changes", 1)
    bad = {"table": "orders", "row": {"order_id": 5, "version": 1, "amount": "12,50"}}
    backend.produce_one("changes", json.dumps(bad).encode(), key=b"orders:5")
    backend.produce_one("changes", b"not json", key=b"?")
    publish(backend, "changes", [change(1, 1)], TABLES)
    build_stream(backend, "changes", target, group="g").run(idle_exit=1.0)
    assert list(actual(target)) == [1]  # the good event applied, the bad ones did not stop it
    letters = {x.key: x for x in DeadLetters(backend, "changes").letters()}
    assert {k: x.error_type for k, x in letters.items()} == {
        b"orders:5": "ValidationError",
        b"?": "JSONDecodeError",
    }
    assert "amount" in letters[b"orders:5"].error
    assert "12,50" in letters[b"orders:5"].error  # names the value to fix
    # fixed at the source, the corrected change is applied
    fixed = {**bad, "row": {**bad["row"], "amount": "12.50"}}
    backend.produce_one("changes", json.dumps(fixed).encode(), key=b"orders:5")
    build_stream(backend, "changes", target, group="g").run(idle_exit=1.0)
    assert sorted(actual(target)) == [1, 5]

"""The SQL sink's :class:`Insert` rows on SQLite and PostgreSQL: written only where their key
is not stored, in record order with the guarded upserts of the same batch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from skybridge.backends.sql import create_sql_engine
from skybridge.backends.streams.records import Record
from skybridge.runtime.outputs import Effect, Insert, Upsert
from skybridge.runtime.sinks import SQLSink


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def table(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    if request.param == "sqlite":
        engine = create_sql_engine(f"sqlite:///{tmp_path / 'out.db'}")
    else:
        engine = create_sql_engine(request.getfixturevalue("postgres_server").url)
    name = f"rows_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TABLE {name} (id TEXT PRIMARY KEY, v TEXT, "
                "_sb_source TEXT, _sb_offset INTEGER)"
            )
        )
    yield engine, name
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {name}"))
    engine.dispose()


def _effect(offset: int, output: Upsert) -> Effect:
    return Effect(Record("events", 0, offset, None, b""), 0, output)


def _rows(engine: Engine, name: str) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, v, _sb_offset FROM {name} ORDER BY id")).all()
    return [(row[0], row[1], row[2]) for row in rows]


def test_an_insert_writes_only_keys_not_stored_whatever_its_offset(
    table: tuple[Engine, str],
) -> None:
    engine, name = table
    sink = SQLSink(engine, {name: ["id"]})
    assert sink.write([_effect(1, Upsert(name, {"id": "a", "v": "scored"}))]) == 1
    sink.write(
        [
            _effect(5, Insert(name, {"id": "a", "v": "late"})),
            _effect(6, Insert(name, {"id": "b", "v": "late"})),
        ]
    )
    assert _rows(engine, name) == [("a", "scored", 1), ("b", "late", 6)]
    sink.write([_effect(7, Upsert(name, {"id": "b", "v": "upserted"}))])  # upserts still win
    assert _rows(engine, name) == [("a", "scored", 1), ("b", "upserted", 7)]


def test_inserts_and_upserts_of_one_batch_apply_in_record_order(
    table: tuple[Engine, str],
) -> None:
    engine, name = table
    sink = SQLSink(engine, {name: ["id"]})
    batch = [
        _effect(1, Insert(name, {"id": "x", "v": "late"})),
        _effect(2, Upsert(name, {"id": "c", "v": "scored"})),
        _effect(3, Insert(name, {"id": "c", "v": "late"})),
    ]
    sink.write(batch)
    sink.write(batch)  # the batch delivered again changes nothing
    assert _rows(engine, name) == [("c", "scored", 2), ("x", "late", 1)]

"""Schema versions of skybridge's tables in a SQL database: recorded, upgraded, newer refused."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from skybridge.apps.anomaly.table import create_tables
from skybridge.backends.sql import create_sql_engine
from skybridge.backends.sql_schema import component_version, versioned
from skybridge.core.errors import ConfigError


def test_a_component_is_recorded_upgraded_once_and_a_newer_one_refused(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path}/app.db")
    seen: list[int] = []
    versioned(engine, "thing", 1, seen.append, where="the test database")
    versioned(engine, "thing", 1, seen.append, where="the test database")
    assert seen == [0, 1]  # created from nothing, then found at its version
    versioned(engine, "thing", 2, seen.append, where="the test database")
    assert seen[-1] == 1  # upgraded from version 1
    assert component_version(engine, "thing") == 2
    assert component_version(engine, "other") == 0
    with pytest.raises(ConfigError, match="the test database holds thing tables of a newer"):
        versioned(engine, "thing", 1, seen.append, where="the test database")
    assert seen[-1] == 1  # nothing created on a newer database


def test_the_anomaly_tables_record_theirs(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path}/skybridge.db")
    create_tables(engine)
    assert component_version(engine, "anomaly") == 1
    with engine.begin() as conn:
        conn.execute(text("UPDATE skybridge_schema SET version = 9 WHERE component = 'anomaly'"))
    # a database this process set up is asked for its version on every open
    with pytest.raises(ConfigError, match=r"skybridge\.db holds anomaly tables of a newer"):
        create_tables(engine)


def _first_open(url: str, barrier: Any, results: Any) -> None:
    engine = create_sql_engine(url)
    barrier.wait()
    try:
        create_tables(engine)
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def test_processes_opening_a_fresh_database_at_once_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for attempt in range(3):
        url = f"sqlite:///{tmp_path}/fresh-{attempt}.db"
        barrier, results = context.Barrier(4), context.Queue()
        workers = [
            context.Process(target=_first_open, args=(url, barrier, results)) for _ in range(4)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join()
        assert outcomes == ["ok"] * 4


def test_a_database_made_again_at_the_same_place_gets_its_tables_again(tmp_path: Path) -> None:
    """The process remembers databases it set up, but asks each open for the recorded
    version: a database dropped and made again (or its file removed) is set up again."""
    path = tmp_path / "anomaly.db"
    for _ in range(5):  # a new file often reuses the freed inode
        engine = create_sql_engine(f"sqlite:///{path}")
        create_tables(engine)
        engine.dispose()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = create_sql_engine(f"sqlite:///{path}")
        create_tables(engine)
        assert "raw_events" in inspect(engine).get_table_names()
        engine.dispose()

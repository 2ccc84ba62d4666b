"""Schema versions of skybridge's tables in a SQL database: recorded, upgraded, newer refused."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from skybridge.apps.anomaly import table
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
    create_tables(engine)  # checked once per process and database: not again
    table._READY.clear()  # as a new process
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

"""Fixtures: fresh SQLite files and PostgreSQL databases with the synced tables, change builders."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from skybridge.apps.datasync.changes import Change, parse_change
from skybridge.apps.datasync.config import ORDERS, TableSpec
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends.sql import create_sql_engine

TABLES: dict[str, TableSpec] = {"orders": ORDERS}
_counter = itertools.count()


def change(order_id: int, version: int, status: str = "new", *, op: str = "upsert") -> Change:
    """An ``orders`` change; a delete carries only the key and the version."""
    row: dict[str, Any] = {"order_id": order_id, "version": version}
    if op == "upsert":
        row |= {"status": status, "amount": f"{order_id}.25", "customer_id": order_id % 3}
    return parse_change({"table": "orders", "op": op, "row": row, "at": 1.0}, TABLES)


@pytest.fixture(scope="module")
def pg_database(postgres_server: Any) -> Iterator[Callable[[], Engine]]:
    """Factory of engines, each on a brand-new database of the session's PostgreSQL."""
    engines: list[Engine] = []
    admin = create_sql_engine(postgres_server.url, isolation_level="AUTOCOMMIT")

    def make() -> Engine:
        name = f"datasync_{next(_counter)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine = create_sql_engine(postgres_server.url.rsplit("/", 1)[0] + f"/{name}")
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
    admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'target.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A fresh database: SQLite, then (marked postgres) PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")  # type: ignore[no-any-return]
    factory: Callable[[], Engine] = request.getfixturevalue("pg_database")
    return factory()


@pytest.fixture
def target(engine: Engine) -> SqlTarget:
    """The ``orders`` tables, created, on a fresh database."""
    made = SqlTarget(engine, TABLES)
    made.create()
    return made

"""Fixtures: fresh SQLite files and fresh PostgreSQL databases for assertion tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from skybridge.backends.sql import create_sql_engine

EXAMPLE = Path(__file__).parents[3] / "examples" / "sla"
_counter = itertools.count()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_sql_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def pg_database(postgres_server) -> Callable[[], Engine]:  # type: ignore[no-untyped-def]
    """Factory of engines, each on a brand-new database of the session's PostgreSQL."""
    engines: list[Engine] = []
    admin = create_sql_engine(postgres_server.url, isolation_level="AUTOCOMMIT")

    def make() -> Engine:
        name = f"assert_{next(_counter)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine = create_sql_engine(postgres_server.url.rsplit("/", 1)[0] + f"/{name}")
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    """A fresh database: SQLite, then (marked postgres) PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_engine")  # type: ignore[no-any-return]
    factory: Callable[[], Engine] = request.getfixturevalue("pg_database")
    return factory()


@pytest.fixture
def pg_engine(pg_database: Callable[[], Engine]) -> Engine:
    return pg_database()


def sla_script() -> str:
    return schema_script() + ";\n" + assertions_script()


def schema_script() -> str:
    """The SLA example's tables (DDL: the database owner's part)."""
    return (EXAMPLE / "schema.sql").read_text()


def assertions_script() -> str:
    """The SLA example's three CREATE ASSERTION statements."""
    return (EXAMPLE / "assertions.sql").read_text()

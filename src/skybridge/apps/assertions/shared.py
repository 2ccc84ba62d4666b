"""What the assertions CLI, HTTP routes and dashboard page share.

The surfaces stay thin: they open an engine on a database URL, call :mod:`.api`, and turn its
results into rows (:func:`summary`) and database errors into :class:`ScriptRejected`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, inspect, literal_column, select, table
from sqlalchemy.exc import DBAPIError, StatementError

from skybridge.apps.assertions import api
from skybridge.apps.assertions.catalog import CatalogEntry
from skybridge.apps.assertions.connection import open_database
from skybridge.apps.assertions.errors import database_error

if TYPE_CHECKING:
    from skybridge.apps.kit.context import AppContext

DEMO_DIR = Path(__file__).parent / "demo"
DEMO_FILES = ("schema.sql", "assertions.sql", "data.sql")


@contextmanager
def open_engine(
    url: str, setting: str = "backends.sql", data_dir: Path | None = None, *, create: bool = True
) -> Iterator[Engine]:
    """An engine on ``url`` (PostgreSQL or SQLite, reachable), disposed afterwards.

    ``data_dir``: skybridge's data folder; without ``create`` a missing SQLite file is refused
    (see :func:`.connection.open_database`).
    """
    engine = open_database(url, setting, data_dir, create=create)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a driver error the engine did not translate into a skybridge error.

    Refused statements become :class:`ScriptRejected`; races, busy databases and lost
    connections get their own errors (see :func:`.errors.database_error`).
    """
    try:
        yield
    except (DBAPIError, StatementError) as exc:
        raise database_error(exc) from None


def summary(entry: CatalogEntry) -> dict[str, Any]:
    """A catalog row as plain data, plus the words of its state and the tables it guards."""
    words = entry.state.split()
    return entry.as_dict() | {
        "deferrable": words[0] == "DEFERRABLE",
        "initially_deferred": "DEFERRED" in words,
        "tables": sorted({d["table"] for d in entry.dependencies}),
    }


def seed_demo(ctx: AppContext[Any]) -> None:
    """``skybridge up --demo``: the SLA example (schema, assertions, data) in the demo database.

    Idempotent: with the demo's assertions already in the catalog only the data is loaded, and
    only while ``tickets`` is empty (the example's schema and assertions applied by hand first).
    """
    with open_engine(ctx.backend_url("sql"), data_dir=ctx.data_dir) as engine, database_errors():
        if not any(e.name == "ticket_requires_active_sla" for e in api.list_assertions(engine)):
            files: tuple[str, ...] = DEMO_FILES
        elif _is_empty(engine, "tickets"):
            files = DEMO_FILES[-1:]
        else:
            return
        api.apply(";\n".join((DEMO_DIR / name).read_text() for name in files), engine)


def _is_empty(engine: Engine, name: str) -> bool:
    """Whether table ``name`` exists and has no rows."""
    if not inspect(engine).has_table(name):
        return False
    query: Select[tuple[int]] = select(literal_column("1")).select_from(table(name)).limit(1)
    with engine.connect() as conn:
        return conn.execute(query).first() is None

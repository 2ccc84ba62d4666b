"""The ``skybridge_assertions`` catalog table (same shape on PostgreSQL and SQLite) and its
schema version.

The catalog, and the runtime tables and functions an apply makes next to it, live in the
user's database, so their version is the ``assertions`` row of ``skybridge_schema``
(:mod:`skybridge.backends.sql_schema`), recorded before an apply and checked again in every
transaction that reads the catalog: an apply under the catalog lock, so it never writes into
a catalog that a newer skybridge upgraded while it waited for the lock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from skybridge.apps.assertions.analysis import Analysis
from skybridge.apps.assertions.errors import database_error
from skybridge.apps.assertions.model import Assertion, State, parse_assertion
from skybridge.apps.assertions.naming import quote_ident, quote_literal
from skybridge.backends.sql_schema import no_privilege, refuse_newer, version_in, versioned
from skybridge.core.observability import get_logger
from skybridge.core.urls import mask_url

log = get_logger(__name__)

#: The ``skybridge_schema`` component of the catalog and the runtime tables next to it.
COMPONENT = "assertions"
#: Their version (see :mod:`skybridge.backends.sql_schema`). 1: the catalog as it has been
#: since assertions exist, so a catalog made before versions were recorded is version 1 too.
SCHEMA_VERSION = 1

CATALOG_DDL = """CREATE TABLE IF NOT EXISTS skybridge_assertions (
  name VARCHAR(128) PRIMARY KEY,
  definition TEXT NOT NULL,
  state TEXT NOT NULL,
  enabled BOOLEAN NOT NULL,
  validated BOOLEAN NOT NULL,
  dependencies TEXT NOT NULL,
  lock_scope TEXT NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)"""


@dataclass(frozen=True)
class CatalogEntry:
    """One row of the catalog."""

    name: str
    definition: str
    state: str
    enabled: bool
    validated: bool
    dependencies: list[dict[str, str]]
    lock_scope: str
    created_at: Any = None
    updated_at: Any = None

    def assertion(self) -> Assertion:
        """The assertion this row describes, re-parsed from its definition."""
        return parse_assertion(
            f"CREATE ASSERTION {quote_ident(self.name)} CHECK ({self.definition}) {self.state}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "definition": self.definition,
            "state": self.state,
            "enabled": self.enabled,
            "validated": self.validated,
            "dependencies": self.dependencies,
            "lock_scope": self.lock_scope,
            "created_at": str(self.created_at) if self.created_at else None,
            "updated_at": str(self.updated_at) if self.updated_at else None,
        }


def dependencies(analysis: Analysis) -> list[dict[str, str]]:
    """Tables and columns the assertion reads (``column`` ``*`` when it reads whole rows)."""
    out = []
    for table in analysis.tables:
        for column in analysis.update_columns(table) or ["*"]:
            out.append({"table": table, "column": column})
    return out


def _bool(value: bool, dialect: str) -> str:
    if dialect == "sqlite":
        return "1" if value else "0"
    return "TRUE" if value else "FALSE"


def upsert_sql(analysis: Analysis, dialect: str) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` of the assertion's catalog row (literal values)."""
    a = analysis.assertion
    state: State = a.state
    values = ", ".join(
        [
            quote_literal(a.name),
            quote_literal(a.definition),
            quote_literal(state.words()),
            _bool(state.enabled, dialect),
            _bool(state.enabled and state.validate, dialect),
            quote_literal(json.dumps(dependencies(analysis))),
            quote_literal(analysis.lock_scope),
        ]
    )
    return (
        "INSERT INTO skybridge_assertions (name, definition, state, enabled, validated, "
        f"dependencies, lock_scope) VALUES ({values}) ON CONFLICT (name) DO UPDATE SET "
        "definition = excluded.definition, state = excluded.state, enabled = excluded.enabled, "
        "validated = excluded.validated, dependencies = excluded.dependencies, "
        "lock_scope = excluded.lock_scope, updated_at = CURRENT_TIMESTAMP"
    )


def delete_sql(name: str) -> str:
    return f"DELETE FROM skybridge_assertions WHERE name = {quote_literal(name)}"


def _where(url: URL) -> str:
    return f"the assertions database {mask_url(url.render_as_string(hide_password=False))}"


def record_version(engine: Engine) -> None:
    """Record the catalog's version before an apply (which makes the catalog, in its own
    transaction, unless it exists): set up ``skybridge_schema`` and record
    :data:`SCHEMA_VERSION` unless it is recorded, adopting a catalog from before versions as
    it is. Processes doing this at once all succeed (see
    :func:`~skybridge.backends.sql_schema.versioned`).

    A role that may not create or write ``skybridge_schema`` (another role made it, and
    granted this one its own tables only) applies without recording: the version check each
    transaction makes under the catalog lock still refuses a newer catalog when the role may
    read the table, and the version is recorded by the next apply of a role that may.

    Raises:
        ConfigError: the database holds a catalog of a newer skybridge (its URL, password
            masked, names it).
        TransientError: the database is unreachable or busy.
    """
    try:
        versioned(engine, COMPONENT, SCHEMA_VERSION, _upgrade, where=_where(engine.url))
    except DBAPIError as exc:
        if no_privilege(exc):
            log.warning(
                "assertions.version_not_recorded",
                database=_where(engine.url),
                reason="the role may not write skybridge_schema",
            )
            return
        raise database_error(exc, url=engine.url) from None


def _upgrade(found: int) -> None:
    """Bring a catalog of version ``found`` to :data:`SCHEMA_VERSION`. Version 0 (made before
    versions) is version 1's shape: nothing changes, not a row. A later version's upgrade
    goes here, in a transaction holding the catalog lock (``transactions.lock_catalog``)."""


def check_version(conn: Connection) -> None:
    """Refuse, in ``conn``'s transaction, a catalog a newer skybridge recorded.

    Raises:
        ConfigError: its recorded version is newer than :data:`SCHEMA_VERSION`.
    """
    found = version_in(conn, COMPONENT)
    refuse_newer(found, COMPONENT, SCHEMA_VERSION, where=_where(conn.engine.url))


def read_catalog(conn: Connection) -> dict[str, CatalogEntry]:
    """Every catalog row by name (empty when the catalog does not exist yet).

    Raises:
        ConfigError: the catalog is of a newer skybridge (see :func:`check_version`).
    """
    check_version(conn)
    if not conn.dialect.has_table(conn, "skybridge_assertions"):
        return {}
    rows = conn.execute(
        text(
            "SELECT name, definition, state, enabled, validated, dependencies, lock_scope, "
            "created_at, updated_at FROM skybridge_assertions ORDER BY name"
        )
    )
    out = {}
    for row in rows:
        out[row.name] = CatalogEntry(
            row.name,
            row.definition,
            row.state,
            bool(row.enabled),
            bool(row.validated),
            json.loads(row.dependencies),
            row.lock_scope,
            row.created_at,
            row.updated_at,
        )
    return out

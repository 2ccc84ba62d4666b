"""The ``skybridge_assertions`` catalog table (same shape on PostgreSQL and SQLite)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from skybridge.apps.assertions.analysis import Analysis
from skybridge.apps.assertions.model import Assertion, State, parse_assertion
from skybridge.apps.assertions.naming import quote_ident, quote_literal

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


def read_catalog(conn: Connection) -> dict[str, CatalogEntry]:
    """Every catalog row by name (empty when the catalog does not exist yet)."""
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

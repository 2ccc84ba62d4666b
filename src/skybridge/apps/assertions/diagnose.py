"""The violating rows behind a SQLite failure, which SQLite's own errors do not carry.

PostgreSQL's triggers put the violating rows in the error's DETAIL. SQLite's ``RAISE(ABORT,
...)`` takes only a literal message and a failed deferred COMMIT says only "FOREIGN KEY
constraint failed", but both leave the transaction open, so the rows can be found:

* at COMMIT, the ledger names the violated assertion and the data is still there: run its full
  check (:func:`pending_violation`);
* for an aborted statement, re-run it inside a savepoint with that assertion's triggers
  dropped, compare the full check before and after, and roll the savepoint back
  (:func:`statement_rows`). Nothing of this survives: the caller rolls everything back.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection

from skybridge.apps.assertions import sqlite
from skybridge.apps.assertions.analysis import Analysis, analyse
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.apps.assertions.model import parse_assertion
from skybridge.apps.assertions.naming import quote_ident

SHOWN = 5
_COMPARED = 1000


def _raw(conn: Connection) -> sqlite3.Connection:
    raw: Any = conn.connection.driver_connection
    return raw  # type: ignore[no-any-return]


def _rows(raw: sqlite3.Connection, sql: str) -> list[dict[str, Any]]:
    cursor = raw.execute(sql)
    names = [d[0] for d in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _analysis(raw: sqlite3.Connection, name: str) -> Analysis | None:
    row = raw.execute(
        "SELECT definition, state FROM skybridge_assertions WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    statement = f"CREATE ASSERTION {quote_ident(name)} CHECK ({row[0]}) {row[1]}"
    return analyse(parse_assertion(statement))


def pending_violation(conn: Connection) -> AssertionViolation | None:
    """The deferred assertion a failed COMMIT left in the ledger, with its violating rows."""
    raw = _raw(conn)
    try:
        names = raw.execute(
            "SELECT DISTINCT assertion FROM skybridge_assertion_ledger ORDER BY 1"
        ).fetchall()
        if not names:
            return None
        name = str(names[0][0])
        analysis = _analysis(raw, name)
        rows = _rows(raw, sqlite.full_check_sql(analysis, SHOWN)) if analysis else []
    except sqlite3.Error:
        return None
    return AssertionViolation(name, rows)


def statement_rows(conn: Connection, name: str, sql: str) -> list[dict[str, Any]]:
    """Rows the statement ``sql`` would make violate assertion ``name`` (SQLite, best effort).

    Returns an empty list when they cannot be found (e.g. another assertion aborts the re-run).
    """
    raw = _raw(conn)
    try:
        raw.execute("SAVEPOINT skybridge_diagnose")
    except sqlite3.Error:
        return []
    try:
        analysis = _analysis(raw, name)
        if analysis is None:
            return []
        check = sqlite.full_check_sql(analysis, _COMPARED)
        before = _rows(raw, check)
        for statement in sqlite.drop_assertion(analysis):
            raw.execute(statement)
        raw.execute(sql)
        return [row for row in _rows(raw, check) if row not in before][:SHOWN]
    except sqlite3.Error:
        return []
    finally:
        raw.execute("ROLLBACK TO skybridge_diagnose")
        raw.execute("RELEASE skybridge_diagnose")

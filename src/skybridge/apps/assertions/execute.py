"""Run the planned steps of a script inside one transaction, naming the statement that failed.

Any failure of a step becomes a skybridge error carrying the script statement it came from
(file and line, see :class:`~.errors.StatementRef`): an assertion violated by a statement names
it and lists the violating rows (on SQLite found by :func:`.diagnose.statement_rows`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from skybridge.apps.assertions import oracle, volatility
from skybridge.apps.assertions.ddl_guard import protection_warning
from skybridge.apps.assertions.diagnose import statement_rows
from skybridge.apps.assertions.errors import (
    AssertionViolation,
    ScriptRejected,
    database_error,
    located,
    timeout_error,
    translate_error,
)
from skybridge.apps.assertions.plan import Dialect, Step
from skybridge.core.errors import ConfigError, SkybridgeError


def run_sql(conn: Connection, sql: str) -> Any:
    """Execute literal SQL (no parameters): ``%`` is escaped for pyformat drivers (psycopg).

    Inside :func:`~.transactions.transaction` a failure leaves the ``with`` block as a
    skybridge error (a rejected statement: :class:`ScriptRejected`), see there.
    """
    if conn.dialect.paramstyle in ("pyformat", "format"):
        sql = sql.replace("%", "%%")
    return conn.exec_driver_sql(sql)


def run_steps(
    conn: Connection, dialect: Dialect, steps: list[Step], timeout: float | None = None
) -> list[str]:
    """Run ``steps`` in order on ``conn``; a line per step done (see ``api.apply``).

    ``timeout`` is the statement timeout in force, for the message when a step hits it.
    """
    require_foreign_keys(conn, dialect, steps)
    done: list[str] = []
    for step in steps:
        try:
            done += _run_step(conn, dialect, step)
        except DBAPIError as exc:
            raise _failure(conn, dialect, step, exc, timeout) from exc
        except SkybridgeError as exc:
            raise (located(exc, step.origin) if step.origin else exc) from None
    return done


def _failure(
    conn: Connection, dialect: Dialect, step: Step, exc: DBAPIError, timeout: float | None
) -> SkybridgeError:
    found = timeout_error(exc, timeout) or translate_error(exc)
    if isinstance(found, AssertionViolation) and dialect == "sqlite" and step.kind == "exec":
        found = AssertionViolation(found.name, statement_rows(conn, found.name, step.sql))
    error = found if isinstance(found, SkybridgeError) else database_error(exc)
    if isinstance(error, ScriptRejected) and oracle.looks_like_oracle(step.sql):
        error.hint = oracle.HINT
    return located(error, step.origin) if step.origin else error


def _run_step(conn: Connection, dialect: Dialect, step: Step) -> list[str]:
    if step.kind == "exec":
        run_sql(conn, step.sql)
        return [step.sql.split("\n", 1)[0][:120]]
    assert step.analysis is not None
    name = step.analysis.assertion.name
    if step.kind == "functions":
        judge = volatility.pg_offenders if dialect == "postgresql" else volatility.sqlite_offenders
        volatility.reject(name, judge(conn, step.analysis))
        return []
    _validate(conn, step)
    return [f"validated {name}"]


def warnings(conn: Connection, dialect: Dialect) -> list[str]:
    """What the user should know about the database's protection (PostgreSQL DDL guard)."""
    if dialect != "postgresql":
        return []
    warning = protection_warning(conn)
    return [warning] if warning else []


def require_foreign_keys(conn: Connection, dialect: Dialect, steps: list[Step]) -> None:
    """Deferred assertions on SQLite rely on a deferred foreign key: refuse without them."""
    if dialect != "sqlite":
        return
    deferred = [s for s in steps if s.analysis and s.analysis.assertion.state.initially_deferred]
    if deferred and not conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise ConfigError(
            "deferred assertions on SQLite need PRAGMA foreign_keys=ON",
            hint="use skybridge.backends.sql.create_sql_engine, which turns it on",
        )


def _validate(conn: Connection, step: Step) -> None:
    assert step.analysis is not None
    rows = [dict(r._mapping) for r in run_sql(conn, step.sql)]
    if rows:
        raise AssertionViolation(step.analysis.assertion.name, jsonable(rows))


def jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as plain dicts; PostgreSQL's ``row_to_json`` text is decoded."""
    out = []
    for row in rows:
        if len(row) == 1 and isinstance(next(iter(row.values())), str):
            try:
                out.append(json.loads(next(iter(row.values()))))
                continue
            except json.JSONDecodeError:
                pass
        out.append(row)
    return out

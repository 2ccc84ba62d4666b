"""The assertions Python API: apply, compile, list, check, explain (CLI and HTTP wrap these).

Every function takes a SQLAlchemy engine (``skybridge.backends.sql.create_sql_engine(url)``)
or a dialect name; nothing here imports a database driver.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from skybridge.apps.assertions import postgres, sqlite, volatility
from skybridge.apps.assertions.analysis import Analysis, analyse
from skybridge.apps.assertions.catalog import CatalogEntry, read_catalog
from skybridge.apps.assertions.ddl_guard import protection_warning
from skybridge.apps.assertions.errors import AssertionViolation, translate_error
from skybridge.apps.assertions.model import Assertion, parse_assertion
from skybridge.apps.assertions.naming import dollar_quote, quote_ident, quote_literal
from skybridge.apps.assertions.plan import Dialect, Step, dialect_of, plan_script
from skybridge.core.errors import ConfigError, NotFound
from skybridge.core.observability import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CheckResult:
    """A full re-check of one assertion: ``rows`` lists violating rows (empty: it holds)."""

    name: str
    rows: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.rows


def engine_dialect(engine: Engine) -> Dialect:
    return dialect_of(engine.dialect.name)


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction; commits at the end and raises skybridge errors.

    Assertion failures surface as :class:`AssertionViolation` (also at COMMIT for deferred
    ones, on SQLite too), serialization failures as ``TransientError``.
    """
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.commit()
        except DBAPIError as exc:
            pending = _pending_sqlite(conn) if engine.dialect.name == "sqlite" else None
            conn.rollback()
            raise translate_error(exc, pending) from exc
        except BaseException:
            conn.rollback()
            raise


def run_sql(conn: Connection, sql: str) -> Any:
    """Execute literal SQL (no parameters): ``%`` is escaped for pyformat drivers (psycopg)."""
    if conn.dialect.paramstyle in ("pyformat", "format"):
        sql = sql.replace("%", "%%")
    return conn.exec_driver_sql(sql)


def _pending_sqlite(conn: Connection) -> list[str]:
    """Assertions left in the ledger; a failed COMMIT keeps SQLite's transaction open to read it."""
    raw: Any = conn.connection.driver_connection
    try:
        rows = raw.execute("SELECT DISTINCT assertion FROM skybridge_assertion_ledger").fetchall()
    except Exception:
        return []
    return sorted(r[0] for r in rows)


def compile_steps(
    sql_text: str, dialect: str, known: dict[str, Assertion] | None = None
) -> list[Step]:
    """The steps :func:`apply` would run for ``sql_text`` (no database needed)."""
    return plan_script(sql_text, dialect_of(dialect), known or {})


def compile_script(sql_text: str, dialect: str) -> str:
    """SQL text enforcing the script's assertions on ``dialect`` (for migration tools).

    Plain statements are kept in order; each assertion becomes its triggers plus its catalog
    row. A VALIDATE check is emitted as a statement that fails when data violates it.
    """
    out = []
    for step in compile_steps(sql_text, dialect):
        if step.kind == "functions":
            if step.sql:  # PostgreSQL; SQLite cannot check its functions in plain SQL
                out.append(step.sql)
            continue
        out.append(
            step.sql if step.kind == "exec" else _validate_statement(step, dialect_of(dialect))
        )
    return ";\n\n".join(out) + ";\n"


def _validate_statement(step: Step, dialect: Dialect) -> str:
    assert step.analysis is not None
    name = step.analysis.assertion.name
    query = step.analysis.violation.sql("postgres" if dialect == "postgresql" else "sqlite")
    message = f'assertion "{name}" violated'
    if dialect == "postgresql":
        body = (
            f" BEGIN IF EXISTS ({query}) THEN RAISE EXCEPTION USING ERRCODE = '23514', "
            f"MESSAGE = {quote_literal(message)}, DETAIL = 'existing data (VALIDATE)'; "
            "END IF; END "
        )
        return "DO " + dollar_quote(body)
    # SQLite cannot RAISE outside a trigger: a CHECK on a temporary table fails instead, and
    # the constraint's name carries the message.
    return (
        "CREATE TEMP TABLE skybridge_validate "
        f"(ok INTEGER CONSTRAINT {quote_ident(message)} CHECK (ok = 1));\n"
        f"INSERT INTO skybridge_validate SELECT NOT EXISTS ({query});\n"
        "DROP TABLE skybridge_validate"
    )


def apply(sql_text: str, engine: Engine) -> list[str]:
    """Run a script (plain DDL/DML and assertion statements) in one transaction.

    Returns a line per step run, then a line starting with ``warning:`` per thing to know (on
    PostgreSQL without superuser: DDL protection is off). Raises :class:`AssertionViolation`
    when a VALIDATE finds violating rows and ``ValidationError`` when an assertion calls a
    function the database does not declare deterministic (nothing is applied then).
    """
    dialect = engine_dialect(engine)
    done: list[str] = []
    with transaction(engine) as conn:
        known = {name: entry.assertion() for name, entry in read_catalog(conn).items()}
        steps = plan_script(sql_text, dialect, known)
        _require_foreign_keys(conn, dialect, steps)
        for step in steps:
            done += _run_step(conn, dialect, step)
        warnings = _warnings(conn, dialect)
    log.info("assertions.applied", steps=len(done), warnings=len(warnings))
    return done + [f"warning: {w}" for w in warnings]


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


def _warnings(conn: Connection, dialect: Dialect) -> list[str]:
    """What the user should know about the database's protection (PostgreSQL DDL guard)."""
    if dialect != "postgresql":
        return []
    warning = protection_warning(conn)
    return [warning] if warning else []


def _require_foreign_keys(conn: Connection, dialect: Dialect, steps: list[Step]) -> None:
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
        raise AssertionViolation(step.analysis.assertion.name, _jsonable(rows))


def _jsonable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def list_assertions(engine: Engine) -> list[CatalogEntry]:
    """Every assertion in the catalog, by name."""
    with transaction(engine) as conn:
        return list(read_catalog(conn).values())


def check(engine: Engine, name: str | None = None, *, limit: int = 100) -> list[CheckResult]:
    """Fully re-check one assertion (or all): the violating rows of each, whatever its state."""
    dialect = engine_dialect(engine)
    with transaction(engine) as conn:
        catalog = read_catalog(conn)
        names = [name] if name else sorted(catalog)
        results = []
        for each in names:
            if each not in catalog:
                raise NotFound(f"assertion {each} does not exist")
            analysis = analyse(catalog[each].assertion())
            sql = _compiler(dialect).full_check_sql(analysis, limit)
            rows = _jsonable([dict(r._mapping) for r in run_sql(conn, sql)])
            results.append(CheckResult(each, rows))
        return results


def _compiler(dialect: Dialect):  # type: ignore[no-untyped-def]
    return postgres if dialect == "postgresql" else sqlite


def explain_assertion(assertion: Assertion | str, dialect: str = "postgresql") -> dict[str, Any]:
    """What enforces an assertion: its violation query, key, lock scope, guarded operations, SQL."""
    parsed = parse_assertion(assertion) if isinstance(assertion, str) else assertion
    analysis = analyse(parsed)
    d = dialect_of(dialect)
    return {
        "name": parsed.name,
        "state": parsed.state.words(),
        "violation_query": analysis.violation.sql("postgres" if d == "postgresql" else "sqlite"),
        "key": _key_text(analysis),
        "lock_scope": analysis.lock_scope,
        "guards": _guards(analysis),
        "statements": _compiler(d).compile_assertion(analysis),
    }


def _key_text(analysis: Analysis) -> list[str] | None:
    if analysis.key is None:
        return None
    return [f"{analysis.occurrences[i].alias}.{c}" for i, c in analysis.key.items()]


def _guards(analysis: Analysis) -> list[dict[str, Any]]:
    out = []
    for table, ops in analysis.guarded().items():
        for op in ops:
            checks = [
                d.kind if d.kind != "keys" else f"keys({d.side})"
                for d in analysis.deltas(table, op)
            ]
            out.append({"table": table, "operation": op, "checks": checks})
    return out


def explain(engine: Engine, name: str) -> dict[str, Any]:
    """:func:`explain_assertion` for an assertion of the catalog."""
    entries = {e.name: e for e in list_assertions(engine)}
    if name not in entries:
        raise NotFound(f"assertion {name} does not exist")
    with transaction(engine) as conn:
        warnings = _warnings(conn, engine_dialect(engine))
    return explain_assertion(entries[name].assertion(), engine.dialect.name) | {
        "enabled": entries[name].enabled,
        "validated": entries[name].validated,
        "warnings": warnings,
    }


def violation_rows(conn: Connection, assertion: Assertion, dialect: Dialect) -> list[Any]:
    """Rows of the full violation query on ``conn`` (tests use this as the oracle)."""
    sql = _compiler(dialect).full_check_sql(analyse(assertion), 1000)
    return list(conn.execute(text(sql)))


compile = compile_script

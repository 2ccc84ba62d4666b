"""The assertions Python API: apply, compile, list, check, explain (CLI and HTTP wrap these).

Every function takes a SQLAlchemy engine (``skybridge.backends.sql.create_sql_engine(url)``)
or a dialect name; nothing here imports a database driver. A URL where an engine is expected,
or a script that is not text, is a ``ValidationError`` naming the argument. Database failures
leave as the command line reports them (see :func:`transaction`): ``TransientError`` for a
busy or unreachable database, :class:`ScriptRejected` for a statement the database refuses.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, text

from skybridge.apps.assertions import oracle, postgres, sqlite
from skybridge.apps.assertions.analysis import Analysis, analyse
from skybridge.apps.assertions.boundary import check_assertions_only
from skybridge.apps.assertions.catalog import CatalogEntry, read_catalog, record_version
from skybridge.apps.assertions.errors import (
    AssertionViolation,
    ScriptRejected,
    StatementRef,
    located,
)
from skybridge.apps.assertions.execute import jsonable, run_sql, run_steps, warnings
from skybridge.apps.assertions.model import Assertion, parse_assertion
from skybridge.apps.assertions.naming import dollar_quote, quote_ident, quote_literal
from skybridge.apps.assertions.plan import (
    Dialect,
    Step,
    check_statements,
    dialect_of,
    plan_script,
)
from skybridge.apps.assertions.script import ScriptStatement, split_script
from skybridge.apps.assertions.transactions import (
    DEFAULT_STATEMENT_TIMEOUT,
    lock_catalog,
    require_engine,
    transaction,
)
from skybridge.core.errors import NotFound, ValidationError
from skybridge.core.memo import BuiltOnce
from skybridge.core.observability import get_logger

__all__ = [
    "DEFAULT_STATEMENT_TIMEOUT",
    "CheckResult",
    "ScriptRejected",
    "apply",
    "apply_assertions_only",
    "check",
    "compile",
    "compile_script",
    "explain",
    "explain_assertion",
    "explain_entry",
    "list_assertions",
    "run_sql",
    "transaction",
]

log = get_logger(__name__)
SOURCE_DIALECTS = ("oracle",)
#: Explanations of catalog rows made so far, by name, definition, state and dialect.
_EXPLAINED: BuiltOnce[tuple[str, str, str, str], dict[str, Any]] = BuiltOnce(kept=1024)


@dataclass(frozen=True)
class CheckResult:
    """A full re-check of one assertion: ``rows`` lists violating rows (empty: it holds)."""

    name: str
    rows: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return not self.rows


def engine_dialect(engine: Engine) -> Dialect:
    """The dialect of ``engine``, which must be an Engine (see :func:`require_engine`)."""
    return dialect_of(require_engine(engine).dialect.name)


def script_text(sql_text: str) -> str:
    """``sql_text``, checked to be the script's text.

    Raises:
        ValidationError: it is anything else (``None``, bytes, a path), naming ``sql_text``.
    """
    if isinstance(sql_text, str):
        return sql_text
    given: object = sql_text
    hint = "pass the SQL itself, e.g. Path('schema.sql').read_text()"
    if isinstance(given, bytes):
        hint = "decode it first: sql_text.decode('utf-8')"
    raise ValidationError(
        f"'sql_text' must be the script's SQL text (str), got {type(given).__name__}", hint=hint
    )


def compile_steps(
    sql_text: str, dialect: str, known: dict[str, Assertion] | None = None
) -> list[Step]:
    """The steps :func:`apply` would run for ``sql_text`` (no database needed)."""
    return plan_script(script_text(sql_text), dialect_of(dialect), known or {})


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


def apply(
    sql_text: str,
    engine: Engine,
    *,
    source: str | None = None,
    from_dialect: str | None = None,
    timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
) -> list[str]:
    """Run a script (plain DDL/DML and assertion statements) in one transaction.

    This is the database owner's tool: plain statements run as written. Over HTTP, use
    :func:`apply_assertions_only`.

    Args:
        sql_text: the script.
        engine: the database (PostgreSQL or SQLite), an Engine: for a URL, pass
            ``create_sql_engine(url)`` (a URL string is refused, as by every function here).
        source: the script's file name, for errors (``schema.sql:12: ...``).
        from_dialect: ``"oracle"`` translates plain statements written for Oracle.
        timeout: seconds each statement may run (``None``: no limit).

    Returns:
        A line per step run, then a line starting with ``warning:`` per thing to know (on
        PostgreSQL without superuser: DDL protection is off).

    Raises:
        AssertionViolation: a statement or a VALIDATE left an assertion false; it names the
            statement and carries the violating rows. Nothing is applied.
        ValidationError: SQL that does not parse or cannot be enforced, or a function the
            database does not declare deterministic (nothing is applied); ``sql_text`` that is
            not text, or ``engine`` that is not an Engine.
        ScriptRejected: the database refused a statement (a ``ValidationError``; the message
            names the statement's line).
        TransientError: the database is busy or unreachable, or the transaction lost a race;
            retry.
        StatementTimeout: a statement ran longer than ``timeout``.
    """
    require_engine(engine)
    statements = split_script(script_text(sql_text), source)
    if from_dialect is not None:
        if from_dialect not in SOURCE_DIALECTS:
            raise ValidationError(
                f"cannot translate SQL written for {from_dialect!r}", hint="use oracle"
            )
        statements = oracle.from_oracle(statements, engine_dialect(engine))
    return _apply(statements, engine, timeout)


def apply_assertions_only(
    sql_text: str, engine: Engine, *, timeout: float | None = DEFAULT_STATEMENT_TIMEOUT
) -> list[str]:
    """:func:`apply` for scripts that hold only CREATE/ALTER/DROP ASSERTION statements.

    This is the boundary the HTTP API uses: every statement is checked before anything runs.

    Raises:
        ValidationError: a statement is not an assertion statement (ATTACH, COPY, PRAGMA, any
            DDL or DML), or an assertion reads a system catalog or skybridge's own tables;
            the message names the line and why.
    """
    require_engine(engine)
    statements = split_script(script_text(sql_text))
    check_assertions_only(statements)
    return _apply(statements, engine, timeout)


def _apply(statements: list[ScriptStatement], engine: Engine, timeout: float | None) -> list[str]:
    dialect = engine_dialect(engine)
    check_statements(statements)  # a script wrong on its own writes nothing, not even a version
    record_version(engine)
    try:
        with transaction(engine, timeout=timeout) as conn:
            lock_catalog(conn)
            # read_catalog checks the version again, under the lock
            known = {name: entry.assertion() for name, entry in read_catalog(conn).items()}
            steps = plan_script(statements, dialect, known)
            done = run_steps(conn, dialect, steps, timeout)
            notes = warnings(conn, dialect)
    except AssertionViolation as exc:
        raise _at_commit(exc, statements) from None
    log.info("assertions.applied", steps=len(done), warnings=len(notes))
    return done + [f"warning: {w}" for w in notes]


def _at_commit(exc: AssertionViolation, statements: list[ScriptStatement]) -> AssertionViolation:
    """A deferred assertion failed at COMMIT: say so, at the end of the script."""
    if exc.statement is not None or not statements:
        return exc
    last = statements[-1]
    end = StatementRef(last.line + last.sql.count("\n"), "COMMIT", last.source)
    found = located(exc, end)
    found.hint = "a deferred assertion is checked when the script's transaction commits"
    assert isinstance(found, AssertionViolation)
    return found


def list_assertions(
    engine: Engine, *, timeout: float | None = DEFAULT_STATEMENT_TIMEOUT
) -> list[CatalogEntry]:
    """Every assertion in the catalog, by name."""
    with transaction(engine, timeout=timeout) as conn:
        return list(read_catalog(conn).values())


def check(
    engine: Engine,
    name: str | None = None,
    *,
    limit: int = 100,
    timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
) -> list[CheckResult]:
    """Fully re-check one assertion (or all): the violating rows of each, whatever its state.

    Raises:
        NotFound: no assertion called ``name``.
        TransientError: the database is busy or unreachable; retry.
        ScriptRejected: the database refused the check (e.g. a table it reads was dropped).
    """
    dialect = engine_dialect(engine)
    with transaction(engine, timeout=timeout) as conn:
        catalog = read_catalog(conn)
        names = [name] if name else sorted(catalog)
        results = []
        for each in names:
            if each not in catalog:
                raise NotFound(f"assertion {each} does not exist")
            analysis = analyse(catalog[each].assertion())
            sql = _compiler(dialect).full_check_sql(analysis, limit)
            rows = jsonable([dict(r._mapping) for r in run_sql(conn, sql)])
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
        "locking": _locking(analysis, d),
        "guards": _guards(analysis),
        "statements": _compiler(d).compile_assertion(analysis),
    }


def explain_entry(entry: CatalogEntry, dialect: str) -> dict[str, Any]:
    """:func:`explain_assertion` for a catalog row, made once per definition and dialect.

    Compiling an assertion's triggers takes milliseconds of pure Python; the dashboard page
    explains every assertion on each view, and a burst of views, each compiling them all again
    in its own worker thread, kept the service's event loop (and ``/healthz``) from the GIL.
    Callers asking while it is made wait for it, and each gets a copy of its own.
    """
    key = (entry.name, entry.definition, entry.state, dialect)
    found = _EXPLAINED.get(key, lambda: explain_assertion(entry.assertion(), dialect))
    return copy.deepcopy(found)


def _locking(analysis: Analysis, dialect: Dialect) -> str:
    """How concurrent writers of one key are kept apart (docs/assertions.md)."""
    if dialect == "sqlite":
        return "one writer at a time (SQLite's write lock)"
    if analysis.lock_scope == "none":
        return "none needed (one row decides)"
    shared = analysis.shared_table()
    mode = f"shared for {shared} writers, exclusive for the others" if shared else "exclusive"
    return (
        f"advisory locks per key ({mode}); lock rows bumped ({postgres.STRIPES} stripes per key) "
        "by exclusive and snapshot-isolated writers"
    )


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
        notes = warnings(conn, engine_dialect(engine))
    return explain_entry(entries[name], engine.dialect.name) | {
        "enabled": entries[name].enabled,
        "validated": entries[name].validated,
        "warnings": notes,
    }


def violation_rows(conn: Connection, assertion: Assertion, dialect: Dialect) -> list[Any]:
    """Rows of the full violation query on ``conn`` (tests use this as the oracle)."""
    sql = _compiler(dialect).full_check_sql(analyse(assertion), 1000)
    return list(conn.execute(text(sql)))


compile = compile_script

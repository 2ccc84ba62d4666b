"""The SQL datasync runs for a table, per dialect, as text (``skybridge datasync explain``).

The text is built once per table definition, dialect and credential, then kept: building it
(SQLAlchemy compiling, sqlglot parsing and writing the Oracle MERGEs) is milliseconds of pure
Python, and a burst of requests for it, each building it again in its own worker thread, kept
the service's event loop (and ``/healthz``) from the GIL for hundreds of milliseconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import oracle as oracle_dialect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateTable

from skybridge.apps.datasync import oracle
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.schema import Schema, postgres_types
from skybridge.apps.datasync.statements import merge_statement, upsert_statement
from skybridge.core.errors import ValidationError
from skybridge.core.memo import BuiltOnce

DIALECTS: dict[str, Any] = {
    "postgresql": postgresql.dialect(),  # type: ignore[no-untyped-call]
    "sqlite": sqlite.dialect(),
    "oracle": oracle_dialect.dialect(),  # type: ignore[no-untyped-call]
}


#: Statements built so far, by table, its definition (as JSON), dialect and credential.
_BUILT: BuiltOnce[tuple[str, str, str, str], dict[str, str]] = BuiltOnce()


def statements_for(table: str, spec: TableSpec, dialect: str, credential: str) -> dict[str, str]:
    """``create``, ``upsert``, ``merge`` (and on Oracle ``copy_data`` and the PostgreSQL
    equivalents the tests execute) for ``table`` on ``dialect``. Callers asking while they are
    built wait for that build."""
    if dialect not in DIALECTS:
        raise ValidationError(f"unknown dialect {dialect!r}; use {', '.join(DIALECTS)}")
    key = (table, spec.model_dump_json(), dialect, credential)
    return dict(_BUILT.get(key, lambda: _build(table, spec, dialect, credential)))


def _build(table: str, spec: TableSpec, dialect: str, credential: str) -> dict[str, str]:
    schema = Schema({table: spec})
    target, staging = schema.targets[table], schema.staging[table]
    compiled = DIALECTS[dialect]
    found = {
        "create": str(CreateTable(target).compile(dialect=compiled)).strip(),
        "create_staging": str(CreateTable(staging).compile(dialect=compiled)).strip(),
    }
    if dialect == "oracle":
        upsert, merge = oracle.upsert_sql(table, spec), oracle.merge_staging_sql(table, spec)
        found |= {
            "upsert": upsert,
            "merge": merge,
            "copy_data": oracle.copy_data_sql(table, credential, ["<part URIs>"]),
            "upsert_postgres_equivalent": oracle.postgres_equivalent(upsert, postgres_types(spec)),
            "merge_postgres_equivalent": oracle.postgres_equivalent(merge),
        }
        return found
    found["upsert"] = str(upsert_statement(target, spec, dialect).compile(dialect=compiled))
    merge_sql = merge_statement(target, staging, spec, dialect, "<batch>", 0.0)
    found["merge"] = str(merge_sql.compile(dialect=compiled))
    return found

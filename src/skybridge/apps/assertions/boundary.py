"""The boundary around user SQL: what an assertion may call and what the HTTP API may run.

Everywhere, an assertion may not call a function with side effects (files, programs, other
databases, sleeping, locks, server control): it only reads its tables, and its check runs inside
every guarded write. Over HTTP (:func:`check_assertions_only`) a script may hold only
``CREATE/ALTER/DROP ASSERTION`` statements, and an assertion may not read system catalogs,
skybridge's own tables or the tables apps keep their state in (``AppSpec.sql_tables``); DDL
and DML stay a command-line feature for the database owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from sqlglot import exp

from skybridge.apps.kit.manifest import discover_apps
from skybridge.core.errors import ValidationError

if TYPE_CHECKING:
    from skybridge.apps.assertions.script import ScriptStatement

_FILES = "reads or writes files on the database server"
_SERVER = "acts on the database server itself"
#: (name or ``prefix*``, why an assertion may not call it); names are lowercase, unqualified.
SIDE_EFFECTS: tuple[tuple[str, str], ...] = (
    ("pg_read_*", _FILES),
    ("pg_ls_*", _FILES),
    ("pg_stat_file", _FILES),
    ("pg_file_*", _FILES),
    ("pg_logdir_ls", _FILES),
    ("lo_*", "uses large objects (lo_import and lo_export read and write server files)"),
    ("loread", "uses large objects"),
    ("lowrite", "uses large objects"),
    ("dblink*", "opens connections to other databases"),
    ("pg_sleep*", "sleeps, holding the writer's locks"),
    ("pg_advisory*", "takes locks"),
    ("pg_try_advisory*", "takes locks"),
    ("pg_notify", "sends notifications"),
    ("set_config", "changes session settings"),
    ("current_setting", "reads server settings"),
    ("pg_terminate_backend", _SERVER),
    ("pg_cancel_backend", _SERVER),
    ("pg_reload_conf", _SERVER),
    ("pg_rotate_logfile", _SERVER),
    ("pg_promote", _SERVER),
    ("pg_switch_wal", _SERVER),
    ("pg_create_*", _SERVER),
    ("pg_drop_*", _SERVER),
    ("pg_replication_*", _SERVER),
    ("pg_logical_*", _SERVER),
    ("pg_stat_reset*", _SERVER),
    ("pg_import_system_collations", _SERVER),
    ("query_to_xml*", "runs SQL given as text"),
    ("cursor_to_xml*", "runs SQL given as text"),
    ("table_to_xml*", "reads a table named by text, out of the assertion's sight"),
    ("schema_to_xml*", "reads tables named by text, out of the assertion's sight"),
    ("database_to_xml*", "reads tables named by text, out of the assertion's sight"),
    ("load_extension", "loads native code into the database"),
    ("readfile", _FILES),
    ("writefile", _FILES),
    ("edit", "starts an editor program"),
    ("fts3_tokenizer", "can load native code into the database"),
)
#: First words of statements the HTTP API refuses with a specific reason.
STATEMENT_REASONS = {
    "ATTACH": "ATTACH opens (or creates) other database files",
    "DETACH": "DETACH changes which database files the connection sees",
    "COPY": "COPY reads and writes server files and runs programs (COPY ... PROGRAM)",
    "PRAGMA": "PRAGMA changes how SQLite works (foreign keys, journal, schema)",
    "LOAD": "LOAD loads native code into the database",
    "VACUUM": "VACUUM INTO writes new database files",
}
_OWNER_ONLY = (
    "the HTTP API accepts only CREATE, ALTER and DROP ASSERTION statements; DDL and DML "
    "are for the database owner"
)
_OWNER_HINT = (
    "create tables and load data as the database owner, e.g. `skybridge assert apply FILE.sql "
    "--db URL`, then send only the assertion statements"
)
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
_RESERVED_PREFIXES = {
    "pg_": "is a PostgreSQL system catalog",
    "sqlite_": "is a SQLite system table",
    "pragma_": "runs a PRAGMA",
    "skybridge_": "holds skybridge's own state, not your data",
}


def side_effect(function: str | None) -> str | None:
    """Why ``function`` (any case, possibly schema-qualified) may not be called, or ``None``."""
    if not function:
        return None
    name = function.rsplit(".", 1)[-1].strip('"').lower()
    for pattern, reason in SIDE_EFFECTS:
        if name == pattern or (pattern.endswith("*") and name.startswith(pattern[:-1])):
            return reason
    return None


def statement_refusal(sql: str) -> str:
    """Why the HTTP API refuses the non-assertion statement ``sql``."""
    words = sql.split()
    first = words[0].upper().strip("(;") if words else ""
    reason = STATEMENT_REASONS.get(first)
    return f"{reason}; {_OWNER_ONLY}" if reason else f"{first} statement refused: {_OWNER_ONLY}"


def app_tables() -> dict[str, str]:
    """The tables installed apps keep in ``backends.sql`` as their own state, each with its
    app's name (``AppSpec.sql_tables``)."""
    return {table: app.name for app in discover_apps() for table in app.sql_tables}


def table_refusal(table: exp.Table, owned: Mapping[str, str] | None = None) -> str | None:
    """Why an assertion sent over HTTP may not read ``table``, or ``None``; ``owned`` maps the
    apps' own tables to their app (default: :func:`app_tables`)."""
    if not isinstance(table.this, exp.Identifier):
        return "a table-valued function is not a table"
    name, schema = table.name.lower(), (table.db or "").lower()
    if schema in _SYSTEM_SCHEMAS:
        return f"{schema} is a system schema"
    for prefix, reason in _RESERVED_PREFIXES.items():
        if name.startswith(prefix):
            return reason
    app = (app_tables() if owned is None else owned).get(name)
    if app is not None:
        return f"it holds the {app} app's own state, not your data"
    return None


def _tables(statement: ScriptStatement) -> Iterable[exp.Table]:
    return statement.assertion.find_all(exp.Table) if statement.assertion is not None else ()


def check_assertions_only(statements: list[ScriptStatement]) -> None:
    """Refuse, before anything runs, a script with more than assertion statements.

    Raises:
        ValidationError: naming the first statement refused (its line) and why.
    """
    owned = app_tables()
    for statement in statements:
        where = f"line {statement.line}: "
        if statement.assertion is None:
            raise ValidationError(where + statement_refusal(statement.sql), hint=_OWNER_HINT)
        for table in _tables(statement):
            reason = table_refusal(table, owned)
            if reason:
                raise ValidationError(
                    f"{where}an assertion sent over HTTP cannot read {table.sql('postgres')}: "
                    f"{reason}",
                    hint="assertions may read only your own tables",
                )

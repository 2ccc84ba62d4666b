"""The app's errors and the translation of driver errors into them.

``AssertionViolation`` is a :class:`~skybridge.core.errors.Conflict`: the statement is well formed
(so not a ValidationError) but conflicts with the current data, exactly like a unique-key
violation, which the error tree already files under Conflict (HTTP 409). Retrying does not help
unless the data changes. Serialization failures (SQLSTATE 40001) and deadlocks (40P01) raised
by the concurrency protocol become :class:`~skybridge.core.errors.TransientError`: retry the
transaction.

A driver error is blamed on the SQL (:class:`ScriptRejected`) only when the database refused a
statement; losing a race on the catalog, a busy database, a cancelled statement or a database
that cannot be reached each get their own error (:func:`database_error`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import URL

from skybridge.apps.assertions.connection import connection_error
from skybridge.core.errors import (
    Conflict,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)

_MESSAGE = re.compile(r'^assertion "(.*)" violated$', re.DOTALL)
_RETRYABLE = {"40001", "40P01", "55P03"}
#: Unique indexes of PostgreSQL's own catalogs: two sessions created the same object at once.
_CATALOG_INDEXES = ("pg_type_typname_nsp_index", "pg_proc_proname_args_nsp_index")
_SQL_HINT = "fix the SQL (table and column names, syntax for this database) and retry"
TIMEOUT_HINT = (
    "make the statement cheaper (e.g. index the columns an assertion joins on), or raise the "
    "limit (--statement-timeout on the command line, timeout= in Python)"
)


@dataclass(frozen=True)
class StatementRef:
    """Where a statement of a script starts: ``source`` (a file name, or None) and ``line``."""

    line: int
    sql: str
    source: str | None = None

    @property
    def where(self) -> str:
        """``file.sql:12``, or ``line 12`` for a script with no file."""
        return f"{self.source}:{self.line}" if self.source else f"line {self.line}"

    @property
    def excerpt(self) -> str:
        """The statement on one line, cut at 120 characters."""
        flat = " ".join(self.sql.split())
        return flat if len(flat) <= 120 else flat[:117] + "..."


class ScriptRejected(ValidationError):
    """The database refused a statement of the script (syntax error, unknown table...)."""

    http_status = 400


class StatementTimeout(TerminalError):
    """A statement ran longer than the statement timeout and was cancelled."""

    http_status = 504


class AssertionViolation(Conflict):
    """A write would leave the assertion ``name`` false; ``rows`` are the violating rows found.

    ``statement`` says which statement of a script did it, when the error comes from one.
    """

    def __init__(
        self,
        name: str,
        rows: list[dict[str, Any]] | None = None,
        statement: StatementRef | None = None,
    ) -> None:
        self.name = name
        self.rows = rows or []
        self.statement = statement
        shown = f": {json.dumps(self.rows[:3], default=str)}" if self.rows else ""
        by = ""
        if statement is not None:
            by = " at COMMIT" if statement.sql == "COMMIT" else f" by {statement.excerpt}"
        prefix = f"{statement.where}: " if statement else ""
        super().__init__(f'{prefix}assertion "{name}" violated{by}{shown}')

    def details(self) -> dict[str, Any]:
        """Fields an error body adds: the assertion, its violating rows, the statement."""
        ref = self.statement
        return {
            "assertion": self.name,
            "rows": self.rows,
            "statement": ref.excerpt if ref else None,
            "line": ref.line if ref else None,
            "source": ref.source if ref else None,
        }


def located(exc: SkybridgeError, ref: StatementRef) -> SkybridgeError:
    """``exc`` with the statement it is about: an attribute, and in front of its message."""
    if isinstance(exc, AssertionViolation):
        if exc.statement is not None:
            return exc
        found = AssertionViolation(exc.name, exc.rows, ref)
        found.hint = exc.hint
        return found
    if getattr(exc, "statement", None) is None:
        exc.statement = ref  # type: ignore[attr-defined]
        exc.message = f"{ref.where}: {exc.message}"
        exc.args = (exc.message,)
    return exc


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)


def _rows_from_detail(detail: str | None) -> list[dict[str, Any]]:
    if not detail or not detail.startswith("violating rows: "):
        return []
    try:
        parsed = json.loads("[" + detail.removeprefix("violating rows: ") + "]")
    except json.JSONDecodeError:
        return []
    return [r for r in parsed if isinstance(r, dict)]


def translate_error(exc: BaseException, pending: list[str] | None = None) -> BaseException:
    """The skybridge error for a driver (or SQLAlchemy-wrapped) error, or ``exc`` itself.

    ``pending`` names the assertions left in the SQLite ledger when a COMMIT failed on its
    deferred foreign key (the driver's message says only "FOREIGN KEY constraint failed").
    """
    native = getattr(exc, "orig", None) or exc
    state = _sqlstate(native)
    if state in _RETRYABLE:
        return TransientError(f"transaction must be retried (SQLSTATE {state}): {native}")
    diag = getattr(native, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(native)
    match = _MESSAGE.search(primary.strip())
    if match:
        return AssertionViolation(
            match.group(1), _rows_from_detail(getattr(diag, "message_detail", None))
        )
    if pending and "FOREIGN KEY constraint failed" in str(native):
        return AssertionViolation(pending[0])
    return exc


def timeout_error(exc: BaseException, seconds: float | None) -> StatementTimeout | None:
    """The error for a statement the database cancelled at the statement timeout, or ``None``.

    PostgreSQL says so (SQLSTATE 57014, "statement timeout"); on SQLite the statement was
    "interrupted", which only the timeout's progress handler does.
    """
    native = getattr(exc, "orig", None) or exc
    text = str(native)
    hit = (_sqlstate(native) == "57014" and "statement timeout" in text) or (
        type(native).__module__ == "sqlite3" and text.strip() == "interrupted"
    )
    if not hit:
        return None
    limit = f" ({seconds:g} s)" if seconds else ""
    return StatementTimeout(
        f"a statement ran longer than the statement timeout{limit} and was cancelled; "
        "nothing was applied",
        hint=TIMEOUT_HINT,
    )


def _first_line(native: BaseException) -> str:
    text = str(native).strip()
    return text.splitlines()[0] if text else type(native).__name__


def concurrency_error(native: BaseException) -> TransientError | None:
    """A race with another session or a busy database: worth retrying, not the SQL's fault."""
    text = str(native)
    state = _sqlstate(native)
    raced = "tuple concurrently" in text or (
        state == "23505" and any(index in text for index in _CATALOG_INDEXES)
    )
    if raced:
        return TransientError(
            "another session changed the database catalog at the same time; nothing was applied",
            retry_after=1,
            hint="retry; concurrent applies of assertions are serialised from here on",
        )
    if "database is locked" in text or "database table is locked" in text:
        return TransientError(
            "another connection is writing to the SQLite database; nothing was applied",
            retry_after=1,
            hint="retry when the other writer has finished",
        )
    return None


def database_error(
    exc: BaseException, setting: str | None = None, url: URL | None = None
) -> SkybridgeError:
    """The skybridge error for a driver error that nothing more specific handled.

    ``setting`` names where the database URL came from (``--db``, ``backends.sql``), and
    ``url`` the database (shown without its password), for errors that are about reaching the
    database rather than about the SQL.
    """
    translated = translate_error(exc)
    if isinstance(translated, SkybridgeError):
        return translated
    native = getattr(exc, "orig", None) or exc
    found = (
        timeout_error(exc, None) or connection_error(exc, setting, url) or concurrency_error(native)
    )
    if found is not None:
        return found
    own_hint = getattr(getattr(native, "diag", None), "message_hint", None)
    return ScriptRejected(
        f"the database rejected a statement: {_first_line(native)}", hint=own_hint or _SQL_HINT
    )

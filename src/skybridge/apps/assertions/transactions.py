"""One transaction on an assertions database: statement timeout, catalog lock, errors.

* Every statement runs under a statement timeout: ``SET LOCAL statement_timeout`` on
  PostgreSQL; on SQLite a progress handler interrupts a statement that runs past its deadline
  (reset before each statement). A statement cut short raises :class:`StatementTimeout`.
* Changes to the assertion catalog serialise: on PostgreSQL a transaction-scoped advisory lock
  (:func:`lock_catalog`), so two concurrent applies never race on ``CREATE OR REPLACE
  FUNCTION`` ("tuple concurrently updated"); on SQLite ``BEGIN IMMEDIATE`` takes the write lock
  (waiting up to the connection's busy timeout).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError

from skybridge.apps.assertions.diagnose import pending_violation, statement_rows
from skybridge.apps.assertions.errors import (
    AssertionViolation,
    StatementTimeout,
    concurrency_error,
    database_error,
    timeout_error,
)
from skybridge.core.errors import SkybridgeError, TransientError, ValidationError

#: Seconds a statement may run unless the caller says otherwise.
DEFAULT_STATEMENT_TIMEOUT = 30.0
#: Key of the advisory lock held while the assertion catalog changes ("skybridg" in ASCII).
CATALOG_LOCK = 0x736B796272696467


class StatementClock:
    """Enforces the statement timeout on one connection for one transaction."""

    def __init__(self, conn: Connection, seconds: float | None) -> None:
        self.conn = conn
        self.seconds = seconds if seconds and seconds > 0 else None
        self.sqlite = conn.dialect.name == "sqlite"
        self.deadline = float("inf")
        self.fired = False

    def start(self) -> None:
        """Arm the limit; call inside the transaction (``SET LOCAL`` needs one)."""
        if self.seconds is None:
            return
        if not self.sqlite:
            millis = max(1, round(self.seconds * 1000))
            self.conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
            return
        event.listen(self.conn, "before_cursor_execute", self.restart)
        self.restart()
        self._raw().set_progress_handler(self._check, 1000)

    def restart(self, *_: Any) -> None:
        """A new statement begins: its deadline is ``seconds`` from now."""
        if self.seconds is not None:
            self.deadline = time.monotonic() + self.seconds

    def stop(self) -> None:
        """Disarm the limit (the connection goes back to the pool)."""
        if self.seconds is None or not self.sqlite:
            return
        if event.contains(self.conn, "before_cursor_execute", self.restart):
            event.remove(self.conn, "before_cursor_execute", self.restart)
        self._raw().set_progress_handler(None, 1000)

    def _raw(self) -> Any:
        return self.conn.connection.driver_connection

    def _check(self) -> int:
        if time.monotonic() > self.deadline:
            self.fired = True
            return 1  # non-zero: SQLite interrupts the statement
        return 0

    def timed_out(self, exc: BaseException) -> StatementTimeout | None:
        """The timeout error when ``exc`` is the database cancelling a statement for it."""
        if self.sqlite and not self.fired:
            return None
        return timeout_error(exc, self.seconds)


def require_engine(engine: Engine) -> Engine:
    """``engine``, checked: the assertions API takes an Engine, not a URL or a connection.

    Raises:
        ValidationError: ``engine`` is anything else (the message names its type, never its
            value: a URL may hold a password).
    """
    if isinstance(engine, Engine):
        return engine
    given: object = engine
    if isinstance(given, str):
        what, hint = "a str (a database URL?)", "pass skybridge.backends.sql.create_sql_engine(url)"
    elif isinstance(given, Connection):
        what, hint = "a Connection", "pass its engine (connection.engine)"
    else:
        what, hint = type(given).__name__, "pass skybridge.backends.sql.create_sql_engine(url)"
    raise ValidationError(f"'engine' must be a SQLAlchemy Engine, got {what}", hint=hint)


@contextmanager
def transaction(
    engine: Engine, *, timeout: float | None = DEFAULT_STATEMENT_TIMEOUT
) -> Iterator[Connection]:
    """A connection in one transaction; commits at the end and raises skybridge errors.

    A driver error, raised by the block (``run_sql``) or at COMMIT, leaves as the error the
    command line reports for it: assertion failures as :class:`AssertionViolation` (also at
    COMMIT for deferred ones, on SQLite too, with the violating rows), serialization failures
    and a busy or unreachable database as ``TransientError``, a statement running past
    ``timeout`` seconds (``None``: no limit) as :class:`StatementTimeout`, a statement the
    database rejects as :class:`ScriptRejected` (a ``ValidationError``), a URL naming no
    usable database as ``ConfigError``. Nothing of the transaction is kept then.
    """
    with _connect(require_engine(engine)) as conn:
        clock = StatementClock(conn, timeout)
        try:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            clock.start()
            yield conn
            clock.restart()
            conn.commit()
        except DBAPIError as exc:
            clock.stop()
            failure = clock.timed_out(exc) or _commit_failure(conn, exc)
            conn.rollback()
            # As the command line: the skybridge error alone, not the driver's (its text can
            # quote the statement's parameters, i.e. row values).
            raise failure from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            clock.stop()


def _connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise database_error(exc, url=engine.url) from None


def _commit_failure(conn: Connection, exc: DBAPIError) -> SkybridgeError:
    if conn.dialect.name == "sqlite" and "FOREIGN KEY constraint failed" in str(exc.orig):
        found = pending_violation(conn)
        if found is not None:
            return found
    failure = concurrency_error(exc.orig or exc) or database_error(exc, url=conn.engine.url)
    if (
        isinstance(failure, AssertionViolation)
        and not failure.rows
        and conn.dialect.name == "sqlite"
        and exc.statement
        and not exc.params
    ):
        # An immediate assertion's trigger names no rows: re-run the literal statement that
        # broke it, in a savepoint, to find them (as apply does), before the rollback.
        return AssertionViolation(failure.name, statement_rows(conn, failure.name, exc.statement))
    return failure


def lock_catalog(conn: Connection) -> None:
    """Hold the catalog lock until the transaction ends (PostgreSQL; SQLite already has it).

    Raises:
        TransientError: another apply held the lock for longer than the statement timeout.
    """
    if conn.dialect.name != "postgresql":
        return
    try:
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CATALOG_LOCK})")
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in ("57014", "55P03"):
            raise
        raise TransientError(
            "another apply is changing the assertions of this database; nothing was applied",
            retry_after=1,
            hint="retry when it has finished",
        ) from None

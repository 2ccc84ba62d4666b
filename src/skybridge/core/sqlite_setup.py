"""Setting up a new SQLite connection when several threads or processes open one file at once.

Switching a database to WAL and creating its tables need locks. While another connection is
doing the same (switching the journal mode, running WAL recovery on a fresh file), SQLite can
answer "database is locked" at once, without calling the busy handler that ``timeout`` sets, so
two embedded backends opened together could fail for no lasting reason. :func:`set_up` runs the
set-up statements, which must be idempotent (``PRAGMA``, ``CREATE ... IF NOT EXISTS``), again
until they pass or ``timeout`` seconds have gone.

:func:`opening` names the file when it cannot be opened: a damaged file (not a database, a
malformed image) says so and what to do, instead of a driver traceback.

:func:`transaction` is the one way the embedded stores run an explicit transaction: it never
leaves its connection inside one (see there).

**Schema versions.** Each embedded store stamps its file with the version of its tables
(``PRAGMA user_version``, see :func:`schema_version`). A file of an older version is upgraded
by its store before the stamp moves (a file from before versions existed reads 0); a file of a
newer version is refused, naming it, so an older skybridge never half-reads tables it does
not know. A store whose tables change bumps its version and upgrades the files of the
version before (its tests open such a file).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skybridge.core.errors import (
    ConfigError,
    DamagedState,
    SkybridgeError,
    TerminalError,
    TransientError,
)

#: Seconds between attempts.
_PAUSE = 0.02


def set_up(conn: Any, statements: Iterable[str], timeout: float = 30.0) -> None:
    """Run ``statements`` on ``conn`` (a ``sqlite3`` connection in autocommit mode), retried
    while the database is locked or busy, for at most ``timeout`` seconds.

    Raises:
        sqlite3.Error: a statement failed for another reason, or still found the database
            locked when ``timeout`` ran out.
    """
    wanted = list(statements)
    deadline = time.monotonic() + timeout
    while True:
        try:
            for statement in wanted:
                conn.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() >= deadline:
                raise
            time.sleep(_PAUSE)


#: What SQLite says of a file that is not (or no longer) a sound database.
_DAMAGED = ("file is not a database", "malformed", "file is encrypted")


def open_error(path: Path | str, what: str, exc: sqlite3.Error) -> SkybridgeError:
    """The error for ``what`` (``"the embedded vector store"``) at ``path`` failing with
    ``exc``: a damaged file, a locked one (worth retrying), or one that cannot be opened."""
    text = str(exc)
    if any(marker in text for marker in _DAMAGED):
        return DamagedState(
            f"{what} {path} is damaged ({text})",
            hint="restore the file from a backup, or move it aside to start it empty "
            "(what it held is then gone)",
        )
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return TransientError(f"{what} {path} is busy ({text})", retry_after=0.1)
    return TerminalError(
        f"cannot use {what} {path} ({text})",
        hint="check that the file and its folder exist and this user may read and write them",
    )


@contextmanager
def opening(path: Path | str, what: str) -> Iterator[None]:
    """Translate a ``sqlite3`` error raised inside into :func:`open_error`'s."""
    try:
        yield
    except sqlite3.Error as exc:
        raise open_error(path, what, exc) from None


@contextmanager
def transaction(
    conn: sqlite3.Connection, begin: str = "BEGIN IMMEDIATE"
) -> Iterator[sqlite3.Connection]:
    """``begin`` on ``conn`` (a connection in autocommit mode), ``COMMIT`` when the body ends,
    ``ROLLBACK`` when the body or the ``COMMIT`` fails.

    A failed ``COMMIT`` leaves SQLite's transaction open (it fails "database is locked" in a
    rollback-journal file while another connection still reads): rolled back here, else every
    later ``BEGIN`` on the connection would fail with "cannot start a transaction within a
    transaction". A body whose error already ended the transaction is not rolled back again
    (that would hide its error behind "no transaction is active").
    """
    conn.execute(begin)
    with ending(conn):
        yield conn


@contextmanager
def ending(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """The end of a transaction already begun on ``conn``: as :func:`transaction`'s."""
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def schema_version(conn: Any, path: Path | str, what: str, version: int) -> int:
    """The schema version of ``what``'s file at ``path`` (0: made before versions existed),
    for its store to upgrade it before :func:`stamp_version`.

    Raises:
        ConfigError: the file is of a newer version than this skybridge knows (``version``).
    """
    (found,) = conn.execute("PRAGMA user_version").fetchone()
    if found > version:
        raise ConfigError(
            f"{what} {path} was written by a newer skybridge (schema version {found}; this "
            f"version reads up to {version})",
            hint="upgrade skybridge to the version that wrote it, or restore a backup made "
            "with this version",
        )
    return int(found)


def stamp_version(conn: Any, found: int, version: int) -> None:
    """Record ``version`` in the file once its store upgraded it from ``found``."""
    if found < version:
        set_up(conn, [f"PRAGMA user_version = {int(version)}"])


def create_schema(
    conn: Any,
    path: Path | str,
    what: str,
    version: int,
    statements: Iterable[str],
    upgrade: Callable[[Any, int], None] | None = None,
) -> None:
    """Create ``what``'s tables (``statements``, idempotent) in the file at ``path``: refuse a
    file of a newer version, run ``upgrade(conn, found)`` on one of an older version, then
    stamp ``version`` (see :func:`schema_version`)."""
    found = schema_version(conn, path, what, version)
    set_up(conn, statements)
    if upgrade is not None and found < version:
        upgrade(conn, found)
    stamp_version(conn, found, version)

"""Setting up a new SQLite connection when several threads or processes open one file at once.

Switching a database to WAL and creating its tables need locks. While another connection is
doing the same (switching the journal mode, running WAL recovery on a fresh file), SQLite can
answer "database is locked" at once, without calling the busy handler that ``timeout`` sets, so
two embedded backends opened together could fail for no lasting reason. :func:`set_up` runs the
set-up statements, which must be idempotent (``PRAGMA``, ``CREATE ... IF NOT EXISTS``), again
until they pass or ``timeout`` seconds have gone.

:func:`opening` names the file when it cannot be opened: a damaged file (not a database, a
malformed image) says so and what to do, instead of a driver traceback.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skybridge.core.errors import DamagedState, SkybridgeError, TerminalError, TransientError

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

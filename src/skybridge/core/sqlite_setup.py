"""Setting up a new SQLite connection when several threads or processes open one file at once.

Switching a database to WAL and creating its tables need locks. While another connection is
doing the same (switching the journal mode, running WAL recovery on a fresh file), SQLite can
answer "database is locked" at once, without calling the busy handler that ``timeout`` sets, so
two embedded backends opened together could fail for no lasting reason. :func:`set_up` runs the
set-up statements, which must be idempotent (``PRAGMA``, ``CREATE ... IF NOT EXISTS``), again
until they pass or ``timeout`` seconds have gone.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from typing import Any

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

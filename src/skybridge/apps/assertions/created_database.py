"""A SQLite database that ``apply`` creates is removed again when the apply fails.

A failed first apply (SQL the database refuses, a violated VALIDATE) would otherwise leave a
new file behind holding only ``skybridge_schema``, which the next command reads as a real,
empty database. Only a file this command made is removed: it claims the path with an
exclusive create before the engine opens it, so a file that was there, or that another
process made first, is never its to remove. And a file that holds anything but what a failed
apply leaves (another process's tables, committed meanwhile) is kept.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

from skybridge.apps.assertions.connection import parse_database_url, sqlite_path
from skybridge.core.observability import get_logger
from skybridge.core.private_files import FILE_MODE, SQLITE_SIDE_FILES

log = get_logger(__name__)

#: The tables a failed apply may have committed in a new database (the version record).
_LEFT_BY_A_FAILED_APPLY = frozenset({"skybridge_schema"})


@contextmanager
def removed_if_failed(url: str, setting: str) -> Iterator[None]:
    """Make the SQLite file ``url`` names when it is missing, and remove it, with its side
    files, when the block fails. Any other database (PostgreSQL, an existing file, one in a
    folder that does not exist yet) is left to the block as it is.

    Raises:
        ConfigError: ``url`` is not a PostgreSQL or SQLite URL.
    """
    path = sqlite_path(parse_database_url(url, setting))
    made = path is not None and _claim(path)
    try:
        yield
    except BaseException:
        if made:
            assert path is not None
            _remove_unused(path)
        raise


def _claim(path: Path) -> bool:
    """Create ``path`` empty (0600) unless something is there: whether this call made it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except OSError:  # there already, or no folder to make it in: opening it will tell
        return False
    return True


def _remove_unused(path: Path) -> None:
    """Remove ``path`` and its side files unless another process has written tables to it."""
    if not _holds_only_what_a_failed_apply_leaves(path):
        log.warning("assertions.new_database_kept", path=str(path), reason="another writer")
        return
    for name in (path.name, *(path.name + suffix for suffix in SQLITE_SIDE_FILES)):
        with suppress(FileNotFoundError):
            path.with_name(name).unlink()
    log.info("assertions.new_database_removed", path=str(path))


def _holds_only_what_a_failed_apply_leaves(path: Path) -> bool:
    uri = path.resolve().as_uri() + "?mode=rw"  # never creates the file again
    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as conn:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            tables = {str(row[0]) for row in rows}
    except sqlite3.Error:
        return False  # unreadable: keep it rather than guess
    return tables <= _LEFT_BY_A_FAILED_APPLY

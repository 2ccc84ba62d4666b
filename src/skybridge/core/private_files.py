"""Data files only their owner can reach: files 0600 in folders 0700.

skybridge's own state (token hashes, kv, stream logs, the local secret store, stored objects)
is written with these modes whatever the umask. A file that already exists with a looser mode
is tightened, with a warning in the log. An existing folder is tightened only when it belongs
to one store (``tighten=True``); otherwise, since it may be a shared folder such as the
working directory, the log warns and says how to fix it. A SQLite database the user named (a
database URL) is made private, but the existing folder it sits in is theirs and is left alone,
without a warning (``private_sqlite(path, own_folder=False)``).
"""

from __future__ import annotations

import os
import stat
from contextlib import suppress
from pathlib import Path

from skybridge.core.observability import get_logger

FILE_MODE = 0o600
DIR_MODE = 0o700
#: Files SQLite keeps next to a database: write-ahead log, shared memory, rollback journal.
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")

log = get_logger(__name__)
#: Open folders already warned about in this process (once each is enough).
_WARNED: set[Path] = set()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _tighten(path: Path, mode: int, kind: str) -> None:
    was = _mode(path)
    if not was & 0o077:
        return
    try:
        os.chmod(path, was & mode)
    except FileNotFoundError:
        raise  # gone meanwhile: nothing to tighten, and not a permission problem
    except OSError as exc:
        log.warning(
            "data path is open to other users and cannot be tightened",
            kind=kind,
            path=str(path),
            mode=f"{was:o}",
            error=exc.strerror,
            hint=f"chmod {mode:o} {path}",
        )
        return
    log.warning(
        "data path was open to other users; tightened", kind=kind, path=str(path), mode=f"{was:o}"
    )


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create ``path`` and its missing parents with mode 0700.

    Args:
        path: The folder.
        tighten: Also take group and other access away from an existing folder (for a folder
            that belongs to one store); otherwise an open folder only gets a warning.

    Returns:
        ``path``.
    """
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for folder in reversed(missing):
        with suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(folder, DIR_MODE)
    if path in missing:
        return path
    if tighten:
        _tighten(path, DIR_MODE, "data folder")
    elif _mode(path) & 0o077 and path.resolve() not in _WARNED:
        _WARNED.add(path.resolve())
        log.warning(
            "data path is open to other users",
            kind="data folder",
            path=str(path),
            mode=f"{_mode(path):o}",
            hint=f"chmod 700 {path}",
        )
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if missing; tighten it if others can reach it.

    An existing file is never opened: closing any descriptor of a SQLite database drops
    every POSIX lock this process holds on it, including other connections' locks.
    """
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        _tighten(path, FILE_MODE, "data file")
    return path


def private_sqlite(path: Path, *, own_folder: bool = True) -> Path:
    """Prepare a SQLite database file: folder 0700, file and side files 0600.

    SQLite gives the ``-wal``, ``-shm`` and ``-journal`` files it creates the database file's
    mode; side files left by an older version are tightened here.

    Args:
        path: The database file.
        own_folder: The folder is one skybridge keeps its data in (``data_dir``): warn when it
            is open to other users. ``False`` for a file the user named (``--db
            sqlite:///sla.db``): its folder (their project folder, say) is theirs to judge, so
            an existing one is neither changed nor warned about; missing folders are still
            created 0700. The file and its side files are private either way.
    """
    if own_folder or not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for suffix in SQLITE_SIDE_FILES:
        # A side file comes and goes with other connections' transactions (a rollback journal
        # lives for one write): one that vanishes between the look and the change is fine.
        with suppress(FileNotFoundError):
            _tighten(path.with_name(path.name + suffix), FILE_MODE, "data file")
    return path

"""Data files are 0600 in 0700 folders whatever the umask; looser ones are tightened or warned."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from skybridge.core import private_files
from skybridge.core.private_files import private_dir, private_file, private_sqlite


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def _permissive_umask() -> Iterator[None]:
    old = os.umask(0o002)  # the loosest common umask: group-writable files
    yield
    os.umask(old)


def test_new_folders_and_parents_are_0700(tmp_path: Path) -> None:
    leaf = private_dir(tmp_path / "a" / "b" / "c")
    assert [mode(p) for p in (leaf, leaf.parent, leaf.parent.parent)] == [0o700] * 3


def test_an_open_folder_is_warned_about_not_changed(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    with capture_logs() as logs:
        private_dir(shared)
    assert mode(shared) == 0o755
    (event,) = logs
    assert event["log_level"] == "warning"
    assert event["hint"] == f"chmod 700 {shared}"


def test_a_store_folder_is_tightened(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir(mode=0o775)
    with capture_logs() as logs:
        private_dir(own, tighten=True)
    assert mode(own) == 0o700
    assert [e["mode"] for e in logs] == ["775"]


def test_a_private_folder_logs_nothing(tmp_path: Path) -> None:
    with capture_logs() as logs:
        private_dir(tmp_path / "x")
        private_dir(tmp_path / "x")
    assert logs == []


def test_files_are_created_0600_and_loose_ones_tightened(tmp_path: Path) -> None:
    assert mode(private_file(tmp_path / "new")) == 0o600
    old = tmp_path / "old"
    old.write_text("content")
    old.chmod(0o664)
    with capture_logs() as logs:
        private_file(old)
    assert mode(old) == 0o600
    assert old.read_text() == "content"
    assert logs[0]["path"] == str(old)


def test_sqlite_side_files_are_tightened(tmp_path: Path) -> None:
    db = tmp_path / "data" / "app.db"
    db.parent.mkdir()
    for suffix in ("", "-wal", "-shm", "-journal"):
        side = db.with_name(db.name + suffix)
        side.touch()
        side.chmod(0o644)
    private_sqlite(db)
    assert {mode(p) for p in db.parent.iterdir()} == {0o600}


def test_a_side_file_that_vanishes_meanwhile_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another connection's write ends (and deletes its rollback journal) between the look for
    # side files and their change: preparing the database must go on, and say nothing.
    db = private_sqlite(tmp_path / "busy.db")
    journal = db.with_name("busy.db-journal")
    journal.touch()
    journal.chmod(0o644)
    real = private_files._mode

    def racing_mode(path: Path) -> int:
        if path == journal:
            journal.unlink()
        return real(path)

    monkeypatch.setattr(private_files, "_mode", racing_mode)
    with capture_logs() as logs:
        assert private_sqlite(db) == db
    assert logs == []
    assert not journal.exists()


def test_preparing_an_open_database_keeps_its_locks(tmp_path: Path) -> None:
    db = private_sqlite(tmp_path / "held.db")
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("CREATE TABLE t (v int)")
    holder.execute("BEGIN IMMEDIATE")  # this process holds the write lock
    private_sqlite(db)  # as a second store on the same file in this process would
    probe = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
        "try:\n    c.execute('BEGIN IMMEDIATE')\n"
        "except sqlite3.OperationalError:\n    sys.exit(3)\n"
    )
    other = subprocess.run([sys.executable, "-c", probe, str(db)], check=False, timeout=30)
    holder.execute("ROLLBACK")
    holder.close()
    assert other.returncode == 3  # another process still sees the database locked


def test_a_store_database_in_an_open_folder_is_warned_about(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    with capture_logs() as logs:
        private_sqlite(data / "kv.db")
    assert [(e["event"], e["hint"]) for e in logs] == [
        ("data path is open to other users", f"chmod 700 {data}")
    ]


def test_a_database_the_user_named_leaves_their_open_folder_alone(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    with capture_logs() as logs:
        db = private_sqlite(project / "sla.db", own_folder=False)
    assert logs == []
    assert mode(project) == 0o755
    assert mode(db) == 0o600  # the file itself is private all the same


def test_a_missing_folder_of_a_named_database_is_still_created_private(tmp_path: Path) -> None:
    db = private_sqlite(tmp_path / "new" / "sla.db", own_folder=False)
    assert (mode(db.parent), mode(db)) == (0o700, 0o600)

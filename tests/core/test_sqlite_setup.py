"""set_up: a new connection's set-up is retried while another connection holds the file;
transaction: a connection is never left inside a transaction."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from skybridge.core.sqlite_setup import set_up, transaction

SET_UP = ["PRAGMA journal_mode=WAL", "CREATE TABLE IF NOT EXISTS t (x INTEGER)"]


def _locked(path: Path) -> sqlite3.Connection:
    """A connection holding an exclusive lock on ``path``."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    return holder


def test_set_up_waits_for_a_lock_that_is_let_go(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    holder = _locked(path)
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)  # no busy handler at all
    started = time.monotonic()
    set_up(conn, SET_UP, timeout=5)
    assert 0.25 <= time.monotonic() - started < 5
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 0
    holder.close()
    conn.close()


def test_set_up_gives_up_after_its_timeout_and_other_errors_at_once(tmp_path: Path) -> None:
    path = tmp_path / "b.db"
    holder = _locked(path)
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        set_up(conn, SET_UP, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 3
    holder.execute("COMMIT")
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="syntax"):
        set_up(conn, ["CREATE TABEL nope (x)"], timeout=5)
    assert time.monotonic() - started < 1
    holder.close()
    conn.close()


def _journal_file(path: Path) -> sqlite3.Connection:
    """A rollback-journal database with a row, its connection in autocommit mode and without a
    busy handler (a COMMIT that must wait fails at once)."""
    made = sqlite3.connect(path, isolation_level=None)
    made.execute("CREATE TABLE t (x INTEGER)")
    made.execute("INSERT INTO t VALUES (1)")
    made.close()
    return sqlite3.connect(path, isolation_level=None, timeout=0)


def test_a_commit_refused_while_another_connection_reads_is_rolled_back(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    conn = _journal_file(path)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT * FROM t").fetchall()  # its shared lock keeps a writer from committing
    with pytest.raises(sqlite3.OperationalError, match="locked"), transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
    assert not conn.in_transaction  # SQLite alone leaves it open: every BEGIN would then fail
    reader.execute("COMMIT")
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (3)")
    assert [x for (x,) in conn.execute("SELECT x FROM t ORDER BY x")] == [1, 3]
    reader.close()
    conn.close()


def _insert_and_fail(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise ValueError("body")


def _end_and_fail(conn: sqlite3.Connection) -> None:
    with transaction(conn, "BEGIN"):
        conn.execute("ROLLBACK")  # the body's failure already ended the transaction
        raise ValueError("ended")  # raised as it is, not as "cannot rollback"


def test_a_failed_body_is_rolled_back_and_its_own_error_raised(tmp_path: Path) -> None:
    conn = _journal_file(tmp_path / "d.db")
    with pytest.raises(ValueError, match="body"):
        _insert_and_fail(conn)
    assert not conn.in_transaction
    with pytest.raises(ValueError, match="ended"):
        _end_and_fail(conn)
    with transaction(conn, "BEGIN") as read:
        assert [x for (x,) in read.execute("SELECT x FROM t")] == [1]
    conn.close()

"""set_up: a new connection's set-up is retried while another connection holds the file."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from skybridge.core.sqlite_setup import set_up

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

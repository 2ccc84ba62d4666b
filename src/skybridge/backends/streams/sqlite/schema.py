"""The SQLite log's tables, connections and error translation; group leases in the same file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from skybridge.backends.streams.records import TopicPartition
from skybridge.core.errors import SkybridgeError, TerminalError, TransientError
from skybridge.core.private_files import private_sqlite
from skybridge.core.sqlite_setup import opening, set_up
from skybridge.core.sqlite_setup import transaction as sqlite_transaction

#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 1
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS topics (
    tid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, partitions INTEGER NOT NULL,
    max_age REAL, max_records INTEGER)""",
    """CREATE TABLE IF NOT EXISTS partitions (
    tid INTEGER NOT NULL, part INTEGER NOT NULL, start_off INTEGER NOT NULL DEFAULT 0,
    next_off INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tid, part)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS records (
    tid INTEGER NOT NULL, part INTEGER NOT NULL, off INTEGER NOT NULL, key BLOB,
    value BLOB NOT NULL, headers BLOB, ts REAL NOT NULL,
    PRIMARY KEY (tid, part, off)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS offsets (
    grp TEXT NOT NULL, tid INTEGER NOT NULL, part INTEGER NOT NULL, pos INTEGER NOT NULL,
    PRIMARY KEY (grp, tid, part)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS members (
    grp TEXT NOT NULL, member TEXT NOT NULL, topics TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (grp, member)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS leases (
    grp TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL, member TEXT NOT NULL,
    expires_at REAL NOT NULL, PRIMARY KEY (grp, topic, part)) WITHOUT ROWID""",
)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL journal.

    The file is private to its owner (0600 in a 0700 folder), as are its WAL and SHM files.
    """
    private_sqlite(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    try:
        with opening(path, "the stream log"):
            set_up(
                conn,
                [
                    "PRAGMA busy_timeout=30000",
                    "PRAGMA journal_mode=WAL",
                    "PRAGMA synchronous=NORMAL",
                    "SELECT count(*) FROM sqlite_master",  # a damaged file fails here
                ],
            )
    except BaseException:
        conn.close()
        raise
    return conn


def translate(exc: sqlite3.Error, operation: str) -> SkybridgeError:
    """sqlite3 errors as the core error tree: a locked or busy file is worth retrying."""
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return TransientError(f"sqlite stream {operation}: {text}", retry_after=0.05)
    return TerminalError(f"sqlite stream {operation} failed: {text}")


@contextmanager
def transaction(conn: sqlite3.Connection, operation: str) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` (take the write lock up front, so no upgrade deadlocks)."""
    try:
        with sqlite_transaction(conn):
            yield conn
    except sqlite3.Error as exc:
        raise translate(exc, operation) from exc


class SqliteLeases:
    """:class:`~skybridge.backends.streams.leases.LeaseStore` in the log's own database."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        #: The partitions the last :meth:`acquire` took over: their lease row was missing or
        #: another member's, so another member may have read and committed them since this
        #: member last held them (its in-memory position is stale even if it "kept" them).
        self.taken_over: set[TopicPartition] = set()

    def heartbeat(
        self, group: str, member: str, topics: Sequence[str], expires_at: float, now: float
    ) -> dict[str, tuple[str, ...]]:
        with transaction(self.conn, "heartbeat") as conn:
            conn.execute("DELETE FROM members WHERE grp = ? AND expires_at < ?", (group, now))
            conn.execute(
                "INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?)",
                (group, member, json.dumps(list(topics)), expires_at),
            )
            rows = conn.execute(
                "SELECT member, topics FROM members WHERE grp = ?", (group,)
            ).fetchall()
        return {m: tuple(json.loads(t)) for m, t in rows}

    def acquire(
        self,
        group: str,
        member: str,
        wanted: set[TopicPartition],
        expires_at: float,
        now: float,
    ) -> set[TopicPartition]:
        with transaction(self.conn, "rebalance") as conn:
            held = {
                TopicPartition(t, p)
                for t, p in conn.execute(
                    "SELECT topic, part FROM leases WHERE grp = ? AND member = ?", (group, member)
                )
            }
            # A row that is still ours (live or expired) means nobody held it in between:
            # taking over a partition overwrites the member, releasing it deletes the row.
            conn.executemany(
                "DELETE FROM leases WHERE grp = ? AND topic = ? AND part = ? AND member = ?",
                [(group, tp.topic, tp.partition, member) for tp in held - wanted],
            )
            conn.executemany(
                "INSERT INTO leases VALUES (?, ?, ?, ?, ?) ON CONFLICT (grp, topic, part) DO "
                "UPDATE SET member = excluded.member, expires_at = excluded.expires_at "
                "WHERE leases.member = excluded.member OR leases.expires_at < ?",
                [(group, tp.topic, tp.partition, member, expires_at, now) for tp in wanted],
            )
            rows = conn.execute(
                "SELECT topic, part FROM leases WHERE grp = ? AND member = ?", (group, member)
            ).fetchall()
        now_held = {TopicPartition(t, p) for t, p in rows}
        self.taken_over = now_held - held
        return now_held

    def renew_for_commit(
        self,
        conn: sqlite3.Connection,
        group: str,
        member: str,
        topics: Sequence[str],
        partitions: set[TopicPartition],
        expires_at: float,
    ) -> set[TopicPartition]:
        """Inside a commit's transaction: the ``partitions`` another member took (or took and
        released) since ``member`` acquired them; when there are none, renew ``member`` and
        its leases (a commit proves it alive).

        A lease row still naming ``member`` is held even if it expired: no other member
        claimed the partition, so nobody else read or committed it.
        """
        ours = {
            TopicPartition(t, p)
            for t, p in conn.execute(
                "SELECT topic, part FROM leases WHERE grp = ? AND member = ?", (group, member)
            )
        }
        moved = partitions - ours
        if moved:
            return moved
        _renew(conn, group, member, topics, expires_at)
        return set()

    def renew(self, group: str, member: str, topics: Sequence[str], expires_at: float) -> None:
        """Renew ``member`` and the leases it still holds (the background keep-alive's
        :data:`~skybridge.backends.streams.leases.Renew`; takes nothing new)."""
        with transaction(self.conn, "keepalive") as conn:
            _renew(conn, group, member, topics, expires_at)

    def owners(self, group: str, now: float) -> dict[TopicPartition, str]:
        rows = self.conn.execute(
            "SELECT topic, part, member FROM leases WHERE grp = ? AND expires_at >= ?",
            (group, now),
        ).fetchall()
        return {TopicPartition(t, p): m for t, p, m in rows}

    def leave(self, group: str, member: str) -> None:
        with transaction(self.conn, "leave") as conn:
            conn.execute("DELETE FROM leases WHERE grp = ? AND member = ?", (group, member))
            conn.execute("DELETE FROM members WHERE grp = ? AND member = ?", (group, member))


def _renew(
    conn: sqlite3.Connection, group: str, member: str, topics: Sequence[str], expires_at: float
) -> None:
    """Extend ``member`` and every lease row naming it (live or expired) to ``expires_at``."""
    conn.execute(
        "UPDATE leases SET expires_at = max(expires_at, ?) WHERE grp = ? AND member = ?",
        (expires_at, group, member),
    )
    conn.execute(
        "INSERT INTO members VALUES (?, ?, ?, ?) ON CONFLICT (grp, member) DO UPDATE "
        "SET expires_at = max(members.expires_at, excluded.expires_at)",
        (group, member, json.dumps(list(topics)), expires_at),
    )

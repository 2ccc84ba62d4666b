"""The embedded store's SQLite file: collections, records and tombstones.

Every write transaction bumps the collection's ``revision`` and stamps the rows it wrote
(``seq``) or deleted (a tombstone) with it, so a process holding vectors in memory catches up
by reading only what changed since the revision it holds. ``generation`` changes when a
collection is dropped and made again, which invalidates everything held for the old one.

A tombstone names the deleted row by its row id (``key``, what the in-memory vectors and the
HNSW graph hold) and by its record ``id`` (what :meth:`VectorStore.changes` reports). SQLite
can give a deleted row's id to a later row, so a tombstone is one per (key, id) pair.

Tombstones are kept for recent revisions only (:mod:`skybridge.backends.vectors.retention`):
``collections.kept_deleted`` counts a collection's, and a delete that takes it over
``max(count, keep_deleted)`` prunes the oldest revisions' down to half that, moving
``collections.feed_from`` (the oldest revision tombstones still cover) up to the newest revision
pruned, in its write transaction. Whatever holds a revision older than ``feed_from`` (the change
feed's reader, a process's vectors in memory, a saved HNSW graph) cannot catch up from the
tombstones and reads the collection again.

Version 3 added ``feed_from`` and ``kept_deleted``; the upgrade counts each collection's
tombstones and sets ``feed_from`` to the newest revision of its tombstones written before
version 2, which have no ``id`` (NULL): the change feed cannot answer for a revision older than
one of them (0 when it has none). A process that opened the file before the upgrade neither
counts nor prunes tombstones, nor reads ``feed_from``: restart every process using the folder
when skybridge is upgraded.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson

from skybridge.backends.vectors import retention
from skybridge.backends.vectors.base import Changes, CollectionInfo, Metric, VectorRecord
from skybridge.core.errors import Conflict, TransientError
from skybridge.core.private_files import private_sqlite
from skybridge.core.sqlite_setup import create_schema, ending, opening, set_up, transaction

#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 3
#: Version 2 added the record ``id`` to tombstones (their key became (collection, key, id)).
_TOMBSTONES = """CREATE TABLE IF NOT EXISTS {table} (
        collection TEXT NOT NULL, key INTEGER NOT NULL, id TEXT, seq INTEGER NOT NULL,
        PRIMARY KEY (collection, key, id))"""
DDL = (
    """CREATE TABLE IF NOT EXISTS collections (
        name TEXT PRIMARY KEY, dimension INTEGER NOT NULL, metric TEXT NOT NULL,
        properties TEXT NOT NULL, revision INTEGER NOT NULL, generation TEXT NOT NULL,
        count INTEGER NOT NULL DEFAULT 0, feed_from INTEGER NOT NULL DEFAULT 0,
        kept_deleted INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE IF NOT EXISTS records (
        collection TEXT NOT NULL, id TEXT NOT NULL, vector BLOB NOT NULL,
        metadata TEXT NOT NULL, seq INTEGER NOT NULL, UNIQUE (collection, id))""",
    "CREATE INDEX IF NOT EXISTS records_seq ON records (collection, seq)",
    _TOMBSTONES.format(table="tombstones"),
    "CREATE INDEX IF NOT EXISTS tombstones_seq ON tombstones (collection, seq)",
)


class Database:
    """One SQLite file shared by the store's threads (and, through WAL, other processes)."""

    def __init__(self, path: Path) -> None:
        private_sqlite(path)
        self.path = path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            with opening(path, "the embedded vector store"):
                set_up(
                    self.conn,
                    [
                        "PRAGMA busy_timeout=30000",
                        "PRAGMA journal_mode=WAL",
                        "PRAGMA synchronous=NORMAL",
                    ],
                )
                create_schema(
                    self.conn,
                    path,
                    "the embedded vector store",
                    SCHEMA_VERSION,
                    DDL,
                    upgrade=lambda _conn, _found: self._upgrade(),
                )
        except BaseException:
            self.conn.close()
            raise

    def _upgrade(self) -> None:
        self._add_count_column()
        self._add_tombstone_ids()
        self._add_feed_from()

    def _add_count_column(self) -> None:
        """Files made before collections kept their count get the column, filled in."""
        columns = {row[1] for row in self.conn.execute("PRAGMA table_info(collections)")}
        if "count" in columns:
            return
        self.conn.execute("ALTER TABLE collections ADD COLUMN count INTEGER NOT NULL DEFAULT 0")
        self.conn.execute(
            "UPDATE collections SET count = (SELECT COUNT(*) FROM records "
            "WHERE records.collection = collections.name)"
        )

    def _add_tombstone_ids(self) -> None:
        """Tombstones from before version 2 get an ``id`` column (NULL in the ones kept) and
        their new key; in one transaction, so a process opening the file at the same time
        finds the table either as it was or as it is now."""
        with self.write() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(tombstones)")}
            if "id" in columns:
                return
            conn.execute(_TOMBSTONES.format(table="tombstones_v2"))
            conn.execute(
                "INSERT INTO tombstones_v2 (collection, key, seq) "
                "SELECT collection, key, seq FROM tombstones"
            )
            conn.execute("DROP TABLE tombstones")
            conn.execute("ALTER TABLE tombstones_v2 RENAME TO tombstones")
            conn.execute(DDL[-1])

    def _add_feed_from(self) -> None:
        """Collections from before version 3 get ``feed_from`` (after their last tombstone
        without an id, 0 if none) and ``kept_deleted`` (their tombstones counted), in one
        transaction as above. Run again (by a process that opened the file at the same time),
        it counts again and moves no ``feed_from`` back."""
        with self.write() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(collections)")}
            for column in ("feed_from", "kept_deleted"):
                if column not in columns:
                    conn.execute(
                        f"ALTER TABLE collections ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0"
                    )
            conn.execute(
                "UPDATE collections SET "
                "feed_from = max(feed_from, coalesce((SELECT max(seq) FROM tombstones "
                "WHERE collection = collections.name AND id IS NULL), 0)), "
                "kept_deleted = (SELECT count(*) FROM tombstones "
                "WHERE collection = collections.name)"
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``), committed on success."""
        with self.lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise TransientError(f"embedded vector store is busy: {exc}") from None
            with ending(self.conn) as conn:
                yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One consistent read (a deferred transaction)."""
        with self.lock, transaction(self.conn, "BEGIN") as conn:
            yield conn

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def create(conn: sqlite3.Connection, info: CollectionInfo) -> None:
    try:
        conn.execute(
            "INSERT INTO collections (name, dimension, metric, properties, revision, generation) "
            "VALUES (?, ?, ?, ?, 0, ?)",
            (
                info.name,
                info.dimension,
                info.metric,
                orjson.dumps(info.properties).decode(),
                uuid.uuid4().hex,
            ),
        )
    except sqlite3.IntegrityError:
        raise Conflict(f"vector collection {info.name!r} already exists") from None


def describe(conn: sqlite3.Connection, name: str) -> CollectionInfo | None:
    row = conn.execute(
        "SELECT dimension, metric, properties, revision, generation, count FROM collections "
        "WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    metric: Metric = row[1]
    return CollectionInfo(name, row[0], metric, orjson.loads(row[2]), row[5], row[3], row[4])


def feed_from(conn: sqlite3.Connection, name: str) -> int:
    """The oldest revision the collection's tombstones cover (read in the transaction that
    reads them; 0 for a collection that does not exist)."""
    row = conn.execute("SELECT feed_from FROM collections WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def changes(conn: sqlite3.Connection, info: CollectionInfo, since: int) -> Changes | None:
    """What changed in ``info``'s collection after revision ``since`` (inside one read
    transaction, ``info`` read in it); ``None`` when ``since`` is older than ``feed_from``."""
    if since < feed_from(conn, info.name):
        return None
    dead = conn.execute(
        "SELECT id FROM tombstones WHERE collection = ? AND seq > ?", (info.name, since)
    ).fetchall()
    if any(rid is None for (rid,) in dead):  # from a process of version 1 still writing
        return None
    rows = conn.execute(
        "SELECT id, metadata FROM records WHERE collection = ? AND seq > ?", (info.name, since)
    ).fetchall()
    upserted = [VectorRecord(rid, None, orjson.loads(metadata)) for rid, metadata in sorted(rows)]
    # a deleted id written again later is present now, with a later seq: it is in ``upserted``
    written = {r.id for r in upserted}
    deleted = sorted({rid for (rid,) in dead} - written)
    return Changes(info.revision, upserted, deleted)


def stamp(conn: sqlite3.Connection, name: str, added: int = 0) -> int:
    """Bump and return the collection's revision, adding ``added`` to its count (inside a
    write transaction)."""
    row = conn.execute(
        "UPDATE collections SET revision = revision + 1, count = count + ? WHERE name = ? "
        "RETURNING revision",
        (added, name),
    ).fetchone()
    if row is None:
        raise Conflict(f"vector collection {name!r} was dropped during the write")
    return int(row[0])


def bury(
    conn: sqlite3.Connection, name: str, seq: int, gone: list[tuple[int, str]], floor: int
) -> None:
    """Leave tombstones for the rows ``gone`` ((key, id) pairs) deleted at revision ``seq``,
    then prune the oldest if the collection keeps too many (inside the write transaction that
    deleted them, after :func:`stamp`; ``floor``: the ``keep_deleted`` setting)."""
    rows = [(name, key, rid) for key, rid in gone]
    # a (key, id) pair deleted before keeps one tombstone, of the latest deletion
    replaced = conn.executemany(
        "DELETE FROM tombstones WHERE collection = ? AND key = ? AND id = ?", rows
    ).rowcount
    conn.executemany(
        "INSERT INTO tombstones (collection, key, id, seq) VALUES (?, ?, ?, ?)",
        [(*row, seq) for row in rows],
    )
    kept, count = conn.execute(
        "UPDATE collections SET kept_deleted = kept_deleted + ? WHERE name = ? "
        "RETURNING kept_deleted, count",
        (len(rows) - max(replaced, 0), name),
    ).fetchone()
    keep = retention.to_keep(kept, count, floor)
    if keep is not None:
        _prune(conn, name, keep)


def _prune(conn: sqlite3.Connection, name: str, keep: int) -> None:
    """Remove the tombstones of the oldest revisions, leaving at most ``keep``, and move the
    collection's ``feed_from`` up to the newest revision removed."""
    row = conn.execute(
        "SELECT seq FROM tombstones WHERE collection = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
        (name, keep),
    ).fetchone()
    if row is not None:
        conn.execute("DELETE FROM tombstones WHERE collection = ? AND seq <= ?", (name, row[0]))
        conn.execute(
            "UPDATE collections SET feed_from = max(feed_from, ?) WHERE name = ?", (row[0], name)
        )
    # counted again (at most ``keep`` rows): a count that went wrong is put right here
    conn.execute(
        "UPDATE collections SET kept_deleted = "
        "(SELECT count(*) FROM tombstones WHERE collection = ?) WHERE name = ?",
        (name, name),
    )


def drop(conn: sqlite3.Connection, name: str) -> bool:
    gone = conn.execute("DELETE FROM collections WHERE name = ?", (name,)).rowcount
    conn.execute("DELETE FROM records WHERE collection = ?", (name,))
    conn.execute("DELETE FROM tombstones WHERE collection = ?", (name,))
    return bool(gone)

"""The embedded sqlite log against a plain SQLite WAL loop, for ``stream_enrichment.py``.

Both sides write the same keyed events to a file in 10,000-record transactions and read them
back in 5,000-record batches, storing the consumer's position after every batch, with the same
SQLite settings (WAL, ``synchronous=NORMAL``). Ours goes through the stream contract: topics
and partitions (murmur2 by key, like Kafka), a consumer group with a lease per partition and a
heartbeat, ``Record`` objects with decoded headers, and an ownership check on every commit.
The anchor is what one would write for one producer and one reader with no group: a table
keyed by (partition, offset), offsets kept in memory by the producer, crc32 for partitions,
rows read as plain tuples, the position stored with ``INSERT OR REPLACE``. Its reader has its
own connection, as ours does and as any reader of a log in another process would.
"""

from __future__ import annotations

import sqlite3
import time
import zlib
from pathlib import Path

from skybridge.backends import streams as streams_family
from skybridge.backends.streams import Message

CHUNK = 10_000
READ = 5_000


def ours(messages: list[Message], path: Path, partitions: int) -> float:
    """Events/s through the sqlite log: produce all, then consume and commit every batch."""
    backend = streams_family.connect(f"sqlite:///{path}", setting=None)
    try:
        backend.create_topic("events", partitions)
        started = time.perf_counter()
        for i in range(0, len(messages), CHUNK):
            backend.produce("events", messages[i : i + CHUNK])
        got = 0
        with backend.consumer("bench", ["events"]) as consumer:
            while got < len(messages):
                batch = consumer.poll(READ, 0.5)
                got += len(batch)
                consumer.commit_records(batch)
        return len(messages) / (time.perf_counter() - started)
    finally:
        backend.close()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _create(conn: sqlite3.Connection) -> None:
    conn.executescript(
        "CREATE TABLE records (part INTEGER NOT NULL, off INTEGER NOT NULL, key BLOB, "
        "value BLOB NOT NULL, ts REAL NOT NULL, PRIMARY KEY (part, off)) WITHOUT ROWID;"
        "CREATE TABLE positions (part INTEGER PRIMARY KEY, pos INTEGER NOT NULL);"
    )


def _write(conn: sqlite3.Connection, messages: list[Message], partitions: int) -> None:
    next_off = [0] * partitions
    for i in range(0, len(messages), CHUNK):
        rows = []
        for m in messages[i : i + CHUNK]:
            part = zlib.crc32(m.key or b"") % partitions
            rows.append((part, next_off[part], m.key, m.value, m.timestamp))
            next_off[part] += 1
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO records VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")


def _read(conn: sqlite3.Connection, total: int, partitions: int) -> int:
    positions = [0] * partitions
    got = part = 0
    while got < total:
        rows = conn.execute(
            "SELECT off, key, value, ts FROM records WHERE part = ? AND off >= ? "
            "ORDER BY off LIMIT ?",
            (part, positions[part], READ),
        ).fetchall()
        if rows:
            positions[part] = rows[-1][0] + 1
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT OR REPLACE INTO positions VALUES (?, ?)", (part, positions[part]))
            conn.execute("COMMIT")
            got += len(rows)
        part = (part + 1) % partitions
    return got


def plain_loop(messages: list[Message], path: Path, partitions: int) -> float:
    """Events/s of the plain SQLite loop over the same events."""
    writer, reader = _connect(path), _connect(path)
    try:
        _create(writer)
        started = time.perf_counter()
        _write(writer, messages, partitions)
        _read(reader, len(messages), partitions)
        return len(messages) / (time.perf_counter() - started)
    finally:
        writer.close()
        reader.close()

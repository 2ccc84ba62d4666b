"""``sqlite://path``: an embedded, durable, partitioned log in one SQLite file (WAL mode).

Several processes may produce and consume at once: every append takes SQLite's write lock
(``BEGIN IMMEDIATE``) so offsets stay dense and ordered, and consumer groups coordinate through
leases stored in the same file (:mod:`skybridge.backends.streams.leases`). Retention is enforced
on produce (at most once a second per topic by age, on every append by count) and by
:meth:`SqliteStream.enforce_retention`.

URL options: ``session_timeout`` (seconds a member may go without heartbeating, default 10),
``heartbeat_interval`` (default a fifth of it) and ``max_poll_interval`` (seconds a member busy
with one batch keeps its partitions through its background heartbeat, default 300).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

from skybridge.backends.streams.base import (
    MAX_PARTITIONS,
    RebalanceCallback,
    StartPosition,
    StreamBackend,
    read_plan,
)
from skybridge.backends.streams.partitioner import keyed_partition, partition_for
from skybridge.backends.streams.records import (
    Message,
    Produced,
    Record,
    Retention,
    TopicInfo,
    encode_headers,
)
from skybridge.backends.streams.sqlite.consumer import SqliteConsumer, as_records
from skybridge.backends.streams.sqlite.schema import (
    SCHEMA,
    SCHEMA_VERSION,
    connect,
    transaction,
    translate,
)
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, NotFound, ValidationError
from skybridge.core.sqlite_setup import create_schema, opening
from skybridge.core.sqlite_setup import transaction as sqlite_transaction
from skybridge.core.urls import BackendURL


def _rows(
    tid: int, messages: Sequence[Message], parts: list[int], offsets: list[int], now: float
) -> list[tuple[Any, ...]]:
    """The ``records`` rows of ``messages`` (one comprehension: the produce hot path)."""
    return [
        (
            tid,
            part,
            off,
            m.key,
            m.value,
            encode_headers(m.headers) if m.headers else None,
            now if m.timestamp is None else m.timestamp,
        )
        for m, part, off in zip(messages, parts, offsets, strict=True)
    ]


_READ_RANGE = (
    "SELECT off, key, value, headers, ts FROM records "
    "WHERE tid = ? AND part = ? AND off >= ? AND off < ? ORDER BY off"
)
_INSERT = "INSERT INTO records (tid, part, off, key, value, headers, ts) VALUES (?,?,?,?,?,?,?)"


class SqliteStream(StreamBackend):
    """The embedded log. Thread-safe; each consumer gets its own connection."""

    scheme = "sqlite"
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"consumer_groups", "seek", "retention", "headers", "lag", "explicit_partition"}
    )
    retention_fields: ClassVar[frozenset[str]] = frozenset({"max_age", "max_records"})

    def __init__(
        self,
        path: Path,
        *,
        session_timeout: float = 10.0,
        heartbeat_interval: float | None = None,
        max_poll_interval: float = 300.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        for name, value in (
            ("session_timeout", session_timeout),
            ("heartbeat_interval", heartbeat_interval),
            ("max_poll_interval", max_poll_interval),
        ):
            if value is not None and not value > 0:
                raise ConfigError(f"sqlite stream option {name} must be above 0, not {value}")
        self.path = path
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval or session_timeout / 5
        self.max_poll_interval = max_poll_interval
        self.clock = clock
        self._lock = threading.Lock()
        self._conn = connect(path)
        with opening(path, "the stream log"):
            create_schema(self._conn, path, "the stream log", SCHEMA_VERSION, SCHEMA)
        self._topics: dict[str, tuple[int, TopicInfo]] = {}
        self._retention_checked: dict[str, float] = {}

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        for name in ("session_timeout", "heartbeat_interval", "max_poll_interval"):
            if name in url.params and name not in options:
                try:
                    options[name] = float(url.params[name])
                except ValueError:
                    raise ConfigError(
                        f"sqlite stream option {name} must be a number of seconds, "
                        f"not {url.params[name]!r}",
                        hint=f"for example sqlite:///.skybridge/streams.db?{name}=30",
                    ) from None
        path = url.sqlite_path()
        if path == ":memory:":
            raise ConfigError(
                "sqlite:// streams need a file path (several connections share it)",
                hint="for example sqlite:///.skybridge/streams.db",
            )
        return cls(Path(path), **options)

    def ping(self) -> None:
        with self._lock:
            self._conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- topics -----------------------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int = 1, retention: Retention | None = None
    ) -> TopicInfo:
        retention = self.check_retention(retention)
        if partitions < 1:
            raise ValidationError("a topic needs at least one partition")
        if partitions > MAX_PARTITIONS:
            raise ValidationError(
                f"a topic has at most {MAX_PARTITIONS:,} partitions, not {partitions:,}"
            )
        with self._lock, transaction(self._conn, "create_topic") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO topics (name, partitions, max_age, max_records) "
                "VALUES (?, ?, ?, ?)",
                (name, partitions, retention.max_age, retention.max_records),
            )
            (tid, count) = conn.execute(
                "SELECT tid, partitions FROM topics WHERE name = ?", (name,)
            ).fetchone()
            conn.executemany(
                "INSERT OR IGNORE INTO partitions (tid, part) VALUES (?, ?)",
                [(tid, p) for p in range(count)],
            )
        return self.describe(name)

    def describe(self, topic: str) -> TopicInfo:
        return self._topic(topic)[1]

    def topics(self) -> list[str]:
        return [name for (name,) in self._query("SELECT name FROM topics ORDER BY name", ())]

    def topic_id(self, topic: str) -> int:
        return self._topic(topic)[0]

    def _topic(self, topic: str) -> tuple[int, TopicInfo]:
        cached = self._topics.get(topic)
        if cached is not None:
            return cached
        with self._lock:
            row = self._conn.execute(
                "SELECT tid, partitions, max_age, max_records FROM topics WHERE name = ?", (topic,)
            ).fetchone()
        if row is None:
            raise NotFound(
                f"stream topic '{topic}' does not exist",
                hint=f"create it first: skybridge stream create {topic} (create_topic() in Python)",
            )
        tid, count, max_age, max_records = row
        info = TopicInfo(topic, count, Retention(max_age=max_age, max_records=max_records))
        self._topics[topic] = (tid, info)
        return tid, info

    # -- produce ----------------------------------------------------------------------------

    def _produce(self, topic: str, messages: Sequence[Message]) -> list[Produced]:
        tid, info = self._topic(topic)
        now = self.clock.now()
        parts = self._partitions(messages, info.partitions)
        with self._lock, transaction(self._conn, "produce") as conn:
            next_off = dict(
                conn.execute("SELECT part, next_off FROM partitions WHERE tid = ?", (tid,))
            )
            offsets = []
            for part in parts:
                offsets.append(next_off[part])
                next_off[part] += 1
            rows = _rows(tid, messages, parts, offsets, now)
            new = tuple.__new__  # named tuples without their Python-level __new__ (hot path)
            produced = [
                new(Produced, (topic, part, off)) for part, off in zip(parts, offsets, strict=True)
            ]
            conn.executemany(_INSERT, rows)
            touched = set(parts)
            conn.executemany(
                "UPDATE partitions SET next_off = ? WHERE tid = ? AND part = ?",
                [(next_off[p], tid, p) for p in touched],
            )
            self._apply_retention(conn, tid, info.retention, touched, next_off, now)
        return produced

    @classmethod
    def _partitions(cls, messages: Sequence[Message], partitions: int) -> list[int]:
        keyed = keyed_partition
        return [
            keyed(m.key, partitions)
            if m.partition is None and m.key is not None
            else cls._partition(m, partitions)
            for m in messages
        ]

    @staticmethod
    def _partition(message: Message, partitions: int) -> int:
        if message.partition is None:
            return partition_for(message.key, partitions)
        if not 0 <= message.partition < partitions:
            raise ValidationError(f"partition {message.partition} is not in 0..{partitions - 1}")
        return message.partition

    # -- retention --------------------------------------------------------------------------

    def enforce_retention(self, topic: str) -> None:
        """Delete records older or more numerous than ``topic``'s retention allows."""
        tid, info = self._topic(topic)
        self._retention_checked.pop(str(tid), None)
        with self._lock, transaction(self._conn, "retention") as conn:
            next_off = dict(
                conn.execute("SELECT part, next_off FROM partitions WHERE tid = ?", (tid,))
            )
            parts = set(range(info.partitions))
            self._apply_retention(conn, tid, info.retention, parts, next_off, self.clock.now())

    def _apply_retention(
        self,
        conn: sqlite3.Connection,
        tid: int,
        retention: Retention,
        parts: set[int],
        next_off: dict[int, int],
        now: float,
    ) -> None:
        age_due = retention.max_age is not None and self._age_check_due(tid)
        for part in parts:
            keep_from = 0
            if retention.max_records is not None:
                keep_from = next_off[part] - retention.max_records
            if retention.max_age is not None and age_due:
                row = conn.execute(
                    "SELECT off FROM records WHERE tid = ? AND part = ? AND ts >= ? "
                    "ORDER BY off LIMIT 1",
                    (tid, part, now - retention.max_age),
                ).fetchone()
                keep_from = max(keep_from, row[0] if row else next_off[part])
            if keep_from > 0:
                conn.execute(
                    "DELETE FROM records WHERE tid = ? AND part = ? AND off < ?",
                    (tid, part, keep_from),
                )
                conn.execute(
                    "UPDATE partitions SET start_off = max(start_off, ?) "
                    "WHERE tid = ? AND part = ?",
                    (keep_from, tid, part),
                )

    def _age_check_due(self, tid: int) -> bool:
        key = str(tid)
        last = self._retention_checked.get(key)
        if last is not None and time.monotonic() - last < 1.0:
            return False
        self._retention_checked[key] = time.monotonic()
        return True

    # -- offsets and groups -----------------------------------------------------------------

    def _offsets(self, topic: str, column: str) -> dict[int, int]:
        tid = self.topic_id(topic)
        try:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT part, {column} FROM partitions WHERE tid = ?", (tid,)
                ).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, "offsets") from exc
        return dict(rows)

    def end_offsets(self, topic: str) -> dict[int, int]:
        return self._offsets(topic, "next_off")

    def start_offsets(self, topic: str) -> dict[int, int]:
        return self._offsets(topic, "start_off")

    def read_to_end(self, topic: str, offsets: Mapping[int, int] | None = None) -> list[Record]:
        """One read transaction: the records below each partition's end offset then."""
        tid = self.topic_id(topic)
        records: list[Record] = []
        try:
            with self._lock, sqlite_transaction(self._conn, "BEGIN"):
                bounds = {
                    part: (start, end)
                    for part, start, end in self._conn.execute(
                        "SELECT part, start_off, next_off FROM partitions WHERE tid = ?",
                        (tid,),
                    )
                }
                for part, asked in read_plan(topic, bounds, offsets).items():
                    start, end = bounds[part]
                    first = start if asked is None else max(asked, start)
                    if first >= end:
                        continue
                    rows = self._conn.execute(_READ_RANGE, (tid, part, first, end)).fetchall()
                    records.extend(as_records(topic, part, rows))
        except sqlite3.Error as exc:
            raise translate(exc, "read_to_end") from exc
        return records

    def committed(self, group: str, topic: str) -> dict[int, int | None]:
        tid, info = self._topic(topic)
        with self._lock:
            rows = dict(
                self._conn.execute(
                    "SELECT part, pos FROM offsets WHERE grp = ? AND tid = ?", (group, tid)
                ).fetchall()
            )
        return {p: rows.get(p) for p in range(info.partitions)}

    def groups(self) -> dict[str, list[str]]:
        rows = self._query(
            "SELECT DISTINCT o.grp, t.name FROM offsets o JOIN topics t ON t.tid = o.tid "
            "ORDER BY o.grp, t.name",
            (),
        )
        found: dict[str, list[str]] = {}
        for group, topic in rows:
            found.setdefault(group, []).append(topic)
        return found

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, "query") from exc

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        *,
        start: StartPosition = "earliest",
        on_assign: RebalanceCallback | None = None,
        on_revoke: RebalanceCallback | None = None,
    ) -> SqliteConsumer:
        for topic in topics:
            self._topic(topic)
        return SqliteConsumer(
            self, group, topics, start=start, on_assign=on_assign, on_revoke=on_revoke
        )

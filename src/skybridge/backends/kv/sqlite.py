"""``sqlite://`` key-value store: the embedded default, safe across threads and processes.

URL forms (SQLAlchemy's convention): ``sqlite:///relative/kv.db`` (three slashes: relative to the
working directory), ``sqlite:////abs/kv.db`` (four: absolute), ``sqlite://`` or
``sqlite:///:memory:`` (in memory, private to the store). The file is created 0600 in a 0700
folder if missing (an existing file open to others is tightened).

Every conditional write is one SQL statement run in autocommit mode, so SQLite's write lock
makes compare-and-set atomic across threads and processes; ``write_batch`` is one
``BEGIN IMMEDIATE`` transaction with one ``executemany`` per kind of write (``atomic_batch``).
The database runs in WAL mode so readers never wait for the writer; writers wait up to
``timeout`` seconds for each other.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from skybridge.backends.kv.base import BatchWrite, Item, KeyValueStore, ScanPage
from skybridge.backends.kv.keys import prefix_end
from skybridge.core.errors import ConfigError, Conflict, TerminalError, TransientError
from skybridge.core.private_files import private_sqlite
from skybridge.core.sqlite_setup import create_schema, set_up, transaction
from skybridge.core.urls import BackendURL

MEMORY = ":memory:"
_TABLE = "skybridge_kv"
#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 1
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {_TABLE} (ns TEXT NOT NULL, key TEXT NOT NULL, "
    "value BLOB NOT NULL, version INTEGER NOT NULL, expires_at REAL, PRIMARY KEY (ns, key))",
    f"CREATE INDEX IF NOT EXISTS {_TABLE}_expiry ON {_TABLE} (ns, expires_at) "
    "WHERE expires_at IS NOT NULL",
)
_LIVE = "(expires_at IS NULL OR expires_at > :now)"
_UPSERT = (
    f"INSERT INTO {_TABLE} (ns, key, value, version, expires_at) "
    "VALUES (:ns, :key, :value, 1, :exp) ON CONFLICT (ns, key) DO UPDATE SET "
    "value = excluded.value, expires_at = excluded.expires_at, version = CASE WHEN "
    f"{_TABLE}.expires_at IS NOT NULL AND {_TABLE}.expires_at <= :now THEN 1 "
    f"ELSE {_TABLE}.version + 1 END"
)
# expected == 0: an existing row may only be overwritten once it has expired.
_CREATE = f"{_UPSERT} WHERE {_TABLE}.expires_at IS NOT NULL AND {_TABLE}.expires_at <= :now"
_UPDATE_AT = (
    f"UPDATE {_TABLE} SET value = :value, expires_at = :exp, version = version + 1 "
    f"WHERE ns = :ns AND key = :key AND version = :expected AND {_LIVE}"
)
#: ``_UPDATE_AT`` of a batch write (no expiry), with positional parameters: executemany binds
#: them faster than named ones, and a batch updates thousands of rows.
_UPDATE_BATCH = (
    f"UPDATE {_TABLE} SET value = ?, expires_at = NULL, version = version + 1 "
    "WHERE ns = ? AND key = ? AND version = ? AND (expires_at IS NULL OR expires_at > ?)"
)
_DELETE_AT = (
    f"DELETE FROM {_TABLE} WHERE ns = :ns AND key = :key AND version = :expected AND {_LIVE}"
)
_DELETE_ANY = f"DELETE FROM {_TABLE} WHERE ns = :ns AND key = :key"
_GET_CHUNK = 500


class _GuardFailed(Exception):
    """A guarded write of a batch matched no row: roll the transaction back."""


def database_path(url: BackendURL) -> str:
    """The file a ``sqlite://`` URL names, or ``:memory:``."""
    return url.sqlite_path()


class SQLiteStore(KeyValueStore):
    """Key-value store in one SQLite table (``skybridge_kv``), shared by all namespaces."""

    scheme = "sqlite"
    capabilities = KeyValueStore.capabilities | {"atomic_batch"}

    def __init__(self, path: str = MEMORY, *, timeout: float = 30.0, **common: Any) -> None:
        super().__init__(**common)
        self.path = path
        self._timeout = timeout
        self._lock = threading.RLock()
        self._pid = os.getpid()
        self._conn = self._open()

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        common = cls.common_options(url, options)
        timeout = float(options.pop("timeout", url.params.get("timeout", 30.0)))
        return cls(database_path(url), timeout=timeout, **common, **options)

    def _open(self) -> sqlite3.Connection:
        if self.path != MEMORY:
            try:
                private_sqlite(Path(self.path))
            except OSError as exc:
                raise ConfigError(f"cannot create {self.path}: {exc}") from exc
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            wal = ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL"]
            set_up(conn, wal if self.path != MEMORY else [], self._timeout)
            create_schema(conn, self.path, "the sqlite kv database", SCHEMA_VERSION, _SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open sqlite kv database {self.path}: {exc}") from exc
        return conn

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection, held exclusively by this thread, with native errors translated."""
        with self._lock:
            if self._pid != os.getpid() and self.path != MEMORY:
                # A forked child must not share the parent's connection; open its own (and
                # open it again on the next call if this open fails).
                self._conn = self._open()
                self._pid = os.getpid()
            try:
                yield self._conn
            except _GuardFailed:
                raise Conflict(
                    "kv write_batch: a key is not at its expected version (nothing was written)",
                    hint="read the current items and retry with their versions",
                ) from None
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise TransientError(f"sqlite kv database is busy: {exc}") from exc
                raise TerminalError(f"sqlite kv database {self.path} failed: {exc}") from exc
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"sqlite kv write refused: {exc}") from exc
            except sqlite3.Error as exc:
                raise TerminalError(f"sqlite kv database {self.path} failed: {exc}") from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db() as conn, transaction(conn):
            yield conn

    def ping(self) -> None:
        with self._db() as conn:
            conn.execute("SELECT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- primitives -------------------------------------------------------------------------

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        found: dict[str, Item] = {}
        with self._db() as conn:
            for start in range(0, len(keys), _GET_CHUNK):
                chunk = keys[start : start + _GET_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT key, value, version, expires_at FROM {_TABLE} "
                    f"WHERE ns = ? AND key IN ({marks})",
                    [self.namespace, *chunk],
                ).fetchall()
                found.update((row[0], Item(*row)) for row in rows)
        return found

    def _put(
        self, key: str, value: bytes, *, expires_at: float | None, expected: int | None, now: float
    ) -> int | None:
        params = {"ns": self.namespace, "key": key, "value": value, "exp": expires_at, "now": now}
        if expected is None:
            sql = _UPSERT
        elif expected == 0:
            sql = _CREATE
        else:
            sql, params["expected"] = _UPDATE_AT, expected
        with self._db() as conn:
            rows = conn.execute(f"{sql} RETURNING version", params).fetchall()
        return int(rows[0][0]) if rows else None

    def _put_many(
        self, values: dict[str, bytes], *, expires_at: float | None, now: float
    ) -> dict[str, int]:
        written: dict[str, int] = {}
        with self._transaction() as conn:
            for key, value in values.items():
                params = {"ns": self.namespace, "key": key, "value": value, "exp": expires_at}
                row = conn.execute(f"{_UPSERT} RETURNING version", {**params, "now": now})
                written[key] = int(row.fetchall()[0][0])
        return written

    def _write_batch(self, writes: list[BatchWrite], *, now: float) -> dict[str, int]:
        # Guarded writes of one kind share a statement, so each kind is one executemany; a
        # guard that fails shows as a row count short of the number of writes.
        kinds: dict[str, list[dict[str, Any]]] = {}
        updates: list[tuple[bytes, str, str, int, float]] = []
        loose: list[BatchWrite] = []
        versions: dict[str, int] = {}
        ns = self.namespace
        for write in writes:
            expected = write.expected
            if expected and write.value is not None:  # the usual case first
                updates.append((write.value, ns, write.key, expected, now))
                versions[write.key] = expected + 1
                continue
            params = {"ns": ns, "key": write.key, "now": now}
            if expected is None:
                loose.append(write)
                versions[write.key] = 0
            elif write.value is None:
                kinds.setdefault(_DELETE_AT, []).append({**params, "expected": expected})
                versions[write.key] = 0
            else:
                kinds.setdefault(_CREATE, []).append({**params, "value": write.value, "exp": None})
                versions[write.key] = 1
        with self._transaction() as conn:
            if updates and conn.executemany(_UPDATE_BATCH, updates).rowcount != len(updates):
                raise _GuardFailed
            for sql, rows in kinds.items():
                if conn.executemany(sql, rows).rowcount != len(rows):
                    raise _GuardFailed
            for write in loose:
                params = {"ns": self.namespace, "key": write.key, "now": now}
                if write.value is None:
                    conn.execute(_DELETE_ANY, params)
                    continue
                row = conn.execute(
                    f"{_UPSERT} RETURNING version", {**params, "value": write.value, "exp": None}
                )
                versions[write.key] = int(row.fetchall()[0][0])
        return versions

    def _delete(self, key: str, *, expected: int | None, now: float) -> bool | None:
        sql = f"DELETE FROM {_TABLE} WHERE ns = :ns AND key = :key"
        if expected is not None:
            sql += f" AND version = :expected AND {_LIVE}"
        params = {"ns": self.namespace, "key": key, "expected": expected, "now": now}
        with self._db() as conn:
            rows = conn.execute(f"{sql} RETURNING expires_at", params).fetchall()
        if expected is not None and not rows:
            return None
        return bool(rows) and (rows[0][0] is None or rows[0][0] > now)

    def _delete_many(self, keys: list[str], *, now: float) -> None:
        with self._transaction() as conn:
            conn.executemany(
                f"DELETE FROM {_TABLE} WHERE ns = ? AND key = ?",
                [(self.namespace, k) for k in keys],
            )

    def _scan(self, prefix: str, start_after: str | None, limit: int) -> ScanPage:
        sql = f"SELECT key, value, version, expires_at FROM {_TABLE} WHERE ns = ? AND key >= ?"
        params: list[Any] = [self.namespace, prefix]
        end = prefix_end(prefix)
        if end is not None:
            sql, params = sql + " AND key < ?", [*params, end]
        if start_after is not None:
            sql, params = sql + " AND key > ?", [*params, start_after]
        with self._db() as conn:
            rows = conn.execute(f"{sql} ORDER BY key LIMIT ?", [*params, limit]).fetchall()
        items = [Item(*row) for row in rows]
        return ScanPage(items, items[-1].key if len(items) == limit else None)

    def purge_expired(self) -> int:
        with self._db() as conn:
            cursor = conn.execute(
                f"DELETE FROM {_TABLE} WHERE ns = ? AND expires_at <= ?",
                (self.namespace, self.clock.now()),
            )
            return cursor.rowcount

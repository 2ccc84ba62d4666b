"""``local://path``: an encrypted, versioned secret store in one SQLite file.

The embedded default. ``path`` is a directory holding ``secrets.db`` and the key file ``key``
(see :mod:`skybridge.backends.secrets.local_keys`). Each value is sealed on its own; names,
metadata and stages are stored in clear. SQLite transactions make every write atomic and safe
across threads and processes; a read runs in a read transaction, which takes no write lock.
Stages follow AWS: a write becomes ``current``, the old current becomes ``previous`` and the
one before loses its stage (``deprecated``).

A secret is referred to by name or by its id (``lsec-`` and 32 hex digits). A reference of the
id shape is looked up by id only, and names of that shape are refused, so a secret can never be
shadowed by one named with its id. (A store written before that rule may hold such a name; that
secret stays reachable through the id that ``list()`` reports.)

Deleted secrets and versions whose time has come are removed from the file by every write, and
by a read at most every :data:`PURGE_EVERY` seconds; until then reads leave them out by time,
so a value is never returned after its deletion time.

URL options: ``?key_file=PATH``, ``?max_value_size=N``; keyword option ``clock=``.
"""

from __future__ import annotations

import builtins
import json
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

from skybridge.backends.secrets.base import SecretStore, VersionExists
from skybridge.backends.secrets.local_keys import Sealer, load_key
from skybridge.backends.secrets.local_rows import (
    SCHEMA,
    SCHEMA_VERSION,
    info_from_rows,
    version_from_row,
)
from skybridge.backends.secrets.types import (
    CURRENT,
    PREVIOUS,
    SecretInfo,
    SecretRef,
    SecretValue,
    SecretVersion,
)
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, Conflict, NotFound, TerminalError, TransientError
from skybridge.core.private_files import private_dir, private_sqlite
from skybridge.core.secret import Secret
from skybridge.core.sqlite_setup import create_schema, opening, transaction
from skybridge.core.urls import BackendURL

_DAY = 86400.0
#: Local ids are ``lsec-`` and 32 hex digits; a reference of that shape is an id, never a name.
_SECRET_ID = re.compile(r"^lsec-[0-9a-f]{32}\Z")
#: Seconds between purges of expired rows by reads (a purge is a write transaction).
PURGE_EVERY = 5.0
#: How long a write waits for another connection's write lock (as ``connect(timeout=30)``).
_BUSY_TIMEOUT_MS = 30_000
#: Identifiers per ``IN (...)`` of a bulk read (SQLite allows 32,766 variables since 3.32).
_CHUNK = 500
#: Rows not yet purged whose deletion time has come are left out by these conditions.
_UNEXPIRED_ROW = "(deletion_date IS NULL OR deletion_date > ?)"
_UNEXPIRED_VERSION = "(deletion_scheduled IS NULL OR deletion_scheduled > ?)"


def _sealed_values(path: Path) -> int:
    """How many sealed values the store at ``path`` holds, read without writing anything
    (0 when it has no database yet).

    Raises:
        ConfigError: the database exists but cannot be read to tell.
    """
    db = path / "secrets.db"
    if not db.is_file():
        return 0
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            tables = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'versions'").fetchall()
            return int(conn.execute("SELECT count(*) FROM versions").fetchone()[0]) if tables else 0
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise ConfigError(
            f"the key file of local://{path} is missing, and {db} cannot be read to tell "
            f"whether it holds values sealed with that key: {exc}",
            hint="restore the key file from a backup, or move the store aside to start anew",
        ) from None


class LocalSecretStore(SecretStore):
    """Encrypted secrets in a local SQLite file (``local://.skybridge/secrets``)."""

    scheme = "local"
    capabilities = frozenset({"version_deletion", "force_delete"})
    recovery_days_range = (1, 30)
    id_pattern = _SECRET_ID
    id_rule = "'lsec-' followed by 32 hex digits (a local secret id)"
    #: Days until a scheduled version deletion takes effect.
    version_deletion_days: ClassVar[int] = 1

    def __init__(
        self,
        path: Path,
        *,
        key_file: Path | None = None,
        max_value_size: int | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(max_value_size=max_value_size)
        self.path = path
        self._clock = clock
        # The key first: a store whose key file is gone is refused before anything is made.
        key = load_key(key_file or path / "key", sealed_values=lambda: _sealed_values(path))
        private_dir(path, tighten=True)
        self._sealer = Sealer(key)
        db = private_sqlite(path / "secrets.db")
        self._lock = threading.RLock()
        #: The store clock's time of the last purge (``None``: not yet).
        self._purged_at: float | None = None
        self._db = sqlite3.connect(db, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        try:
            what = "the local secret store"
            with opening(db, what):
                create_schema(self._db, db, what, SCHEMA_VERSION, SCHEMA)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        key_file = options.pop("key_file", url.params.get("key_file"))
        size = options.pop("max_value_size", url.params.get("max_value_size"))
        return cls(
            url.location(base=Path.cwd()),
            key_file=Path(key_file) if key_file else None,
            max_value_size=int(size) if size else None,
            **options,
        )

    def __repr__(self) -> str:
        return f"LocalSecretStore(path={str(self.path)!r})"

    def ping(self) -> None:
        with self._tx(write=False):
            self._db.execute("SELECT 1")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ----------------------------------------------------------------- plumbing
    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """A transaction: ``write`` takes the write lock at once and purges expired rows;
        a read (``write=False``) takes none, after a purge of its own when one is due."""
        with self._lock:
            try:
                if not write and self._purge_due():
                    self._purge_if_free()
                with transaction(self._db, "BEGIN IMMEDIATE" if write else "BEGIN"):
                    purged = self._purge_expired() if write else None
                    yield self._db
                if purged is not None:
                    self._purged_at = purged
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise TransientError(f"local secret store is busy: {exc}") from None
                raise TerminalError(f"local secret store failed: {exc}") from None
            except sqlite3.Error as exc:
                raise TerminalError(f"local secret store failed: {exc}") from None

    def _purge_if_free(self) -> None:
        """A read's purge, only if the write lock is free at once: a writer holding it purges
        itself, and reads leave expired rows out by time, so a read never waits for it."""
        self._db.execute("PRAGMA busy_timeout = 0")
        try:
            with transaction(self._db):
                purged = self._purge_expired()
            self._purged_at = purged
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        finally:
            self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")

    def _purge_due(self) -> bool:
        return self._purged_at is None or self._clock.now() >= self._purged_at + PURGE_EVERY

    def _purge_expired(self) -> float:
        """Remove the rows whose time has come (inside a write transaction); the store clock's
        time it purged to, for the caller to keep once the transaction committed."""
        # Indexed (local_rows.SCHEMA): three index probes when nothing is due.
        now = self._clock.now()
        self._db.execute(
            "DELETE FROM versions WHERE secret_id IN "
            "(SELECT secret_id FROM secrets WHERE deletion_date <= ?)",
            (now,),
        )
        self._db.execute("DELETE FROM secrets WHERE deletion_date <= ?", (now,))
        self._db.execute("DELETE FROM versions WHERE deletion_scheduled <= ?", (now,))
        return now

    def _row(self, secret: str, *, live: bool = True) -> sqlite3.Row:
        # By id or by name, never either: a name must not shadow another secret's id.
        column = "secret_id" if self.is_secret_id(secret) else "name"
        row: sqlite3.Row | None = self._db.execute(
            f"SELECT * FROM secrets WHERE {column} = ? AND {_UNEXPIRED_ROW}",
            (secret, self._clock.now()),
        ).fetchone()
        if row is None:
            raise NotFound(f"secret '{secret}' does not exist in local://{self.path}")
        if live and row["deletion_date"] is not None:
            raise NotFound(
                f"secret '{secret}' is scheduled for deletion",
                hint="it can no longer be read or written",
            )
        return row

    @staticmethod
    def _context(secret_id: str, version_id: str, binary: bool) -> bytes:
        return f"{secret_id}\x00{version_id}\x00{int(binary)}".encode()

    def _insert_version(self, secret_id: str, value: SecretValue, version_id: str) -> None:
        now = self._clock.now()
        self._db.execute(
            "UPDATE versions SET stages = '[]' WHERE secret_id = ? AND stages = ?",
            (secret_id, json.dumps([PREVIOUS])),
        )
        self._db.execute(
            "UPDATE versions SET stages = ? WHERE secret_id = ? AND stages = ?",
            (json.dumps([PREVIOUS]), secret_id, json.dumps([CURRENT])),
        )
        blob = self._sealer.seal(
            value.as_bytes(), self._context(secret_id, version_id, value.is_binary)
        )
        seq = self._db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM versions WHERE secret_id = ?", (secret_id,)
        ).fetchone()[0]
        self._db.execute(
            "INSERT INTO versions (secret_id, version_id, seq, is_binary, blob, stages, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (secret_id, version_id, seq, int(value.is_binary), blob, json.dumps([CURRENT]), now),
        )
        self._db.execute("UPDATE secrets SET changed = ? WHERE secret_id = ?", (now, secret_id))

    def _read(self, row: sqlite3.Row, vrow: sqlite3.Row) -> SecretVersion:
        binary = bool(vrow["is_binary"])
        plain = self._sealer.open(
            vrow["blob"],
            self._context(row["secret_id"], vrow["version_id"], binary),
            what=f"secret '{row['name']}' version '{vrow['version_id']}'",
        )
        value: SecretValue = Secret(plain) if binary else Secret(plain.decode("utf-8"))
        ref = SecretRef(row["name"], row["secret_id"])
        return SecretVersion(ref, version_from_row(vrow), value, json.loads(row["metadata"]))

    # ----------------------------------------------------------------- primitives
    def _create(
        self,
        name: str,
        value: SecretValue,
        version_id: str,
        description: str | None,
        metadata: Mapping[str, str],
    ) -> SecretVersion:
        with self._tx() as db:
            taken = db.execute("SELECT deletion_date FROM secrets WHERE name = ?", (name,))
            existing = taken.fetchone()
            if existing is not None:
                hint = "it is scheduled for deletion; force-delete it to reuse the name"
                raise Conflict(
                    f"secret '{name}' already exists",
                    hint=hint if existing["deletion_date"] is not None else None,
                )
            secret_id = f"lsec-{uuid.uuid4().hex}"
            now = self._clock.now()
            db.execute(
                "INSERT INTO secrets (name, secret_id, description, metadata, created, changed)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (name, secret_id, description, json.dumps(dict(metadata)), now, now),
            )
            self._insert_version(secret_id, value, version_id)
            row = self._row(name)
            return self._read(row, self._version_row(row, version_id, None))

    def _put_value(
        self, secret: str, value: SecretValue, version_id: str, metadata: Mapping[str, str]
    ) -> SecretVersion:
        with self._tx() as db:
            row = self._row(secret)
            sid = row["secret_id"]
            taken = db.execute(
                "SELECT 1 FROM versions WHERE secret_id = ? AND version_id = ?", (sid, version_id)
            ).fetchone()
            if taken is not None:
                raise VersionExists(f"version '{version_id}' of secret '{secret}' exists")
            self._insert_version(sid, value, version_id)
            if metadata:
                self._merge_metadata(row, metadata, set())
                row = self._row(secret)
            return self._read(row, self._version_row(row, version_id, None))

    def _version_row(
        self, row: sqlite3.Row, version_id: str | None, stage: str | None
    ) -> sqlite3.Row:
        if version_id is not None:
            query, arg = "version_id = ?", version_id
        else:
            query, arg = "stages LIKE ?", f'%"{stage or CURRENT}"%'
        vrow: sqlite3.Row | None = self._db.execute(
            f"SELECT * FROM versions WHERE secret_id = ? AND {query} AND {_UNEXPIRED_VERSION}",
            (row["secret_id"], arg, self._clock.now()),
        ).fetchone()
        if vrow is None:
            what = f"version '{version_id}'" if version_id else f"stage '{stage or CURRENT}'"
            raise NotFound(f"secret '{row['name']}' has no {what}")
        return vrow

    def _get_value(self, secret: str, version_id: str | None, stage: str | None) -> SecretVersion:
        with self._tx(write=False):
            row = self._row(secret)
            return self._read(row, self._version_row(row, version_id, stage))

    def _describe(self, secret: str) -> SecretInfo:
        with self._tx(write=False):
            row = self._row(secret, live=False)
            return info_from_rows(row, self._versions_of([row["secret_id"]])[row["secret_id"]])

    def _describe_many(self, secrets: builtins.list[str]) -> dict[str, SecretInfo]:
        """One read transaction, a query per chunk of names, ids and their versions."""
        ids = [s for s in secrets if self.is_secret_id(s)]
        names = [s for s in secrets if not self.is_secret_id(s)]
        with self._tx(write=False):
            by_id = self._secret_rows("secret_id", ids)
            by_name = self._secret_rows("name", names)
            found = {
                s: row
                for s in secrets
                if (row := (by_id if self.is_secret_id(s) else by_name).get(s)) is not None
            }
            versions = self._versions_of([row["secret_id"] for row in found.values()])
        return {s: info_from_rows(row, versions[row["secret_id"]]) for s, row in found.items()}

    def _secret_rows(self, column: str, keys: Sequence[str]) -> dict[str, sqlite3.Row]:
        """Rows (live or scheduled for deletion) whose ``column`` is one of ``keys``."""
        rows: dict[str, sqlite3.Row] = {}
        now = self._clock.now()
        for start in range(0, len(keys), _CHUNK):
            chunk = list(keys[start : start + _CHUNK])
            marks = ", ".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT * FROM secrets WHERE {column} IN ({marks}) AND {_UNEXPIRED_ROW}",
                (*chunk, now),
            ):
                rows[row[column]] = row
        return rows

    def _versions_of(self, secret_ids: Sequence[str]) -> dict[str, builtins.list[sqlite3.Row]]:
        """The versions not yet deleted of each of ``secret_ids``, oldest first."""
        found: dict[str, builtins.list[sqlite3.Row]] = {sid: [] for sid in secret_ids}
        unique = list(found)
        now = self._clock.now()
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for vrow in self._db.execute(
                f"SELECT * FROM versions WHERE secret_id IN ({marks}) AND {_UNEXPIRED_VERSION}"
                " ORDER BY secret_id, seq",
                (*chunk, now),
            ):
                found[vrow["secret_id"]].append(vrow)
        return found

    def _list(self, prefix: str | None) -> Iterator[SecretRef]:
        with self._tx(write=False) as db:
            rows = db.execute(
                "SELECT name, secret_id FROM secrets WHERE deletion_date IS NULL"
                " AND substr(name, 1, ?) = ? ORDER BY name",
                (len(prefix or ""), prefix or ""),
            ).fetchall()
        return iter([SecretRef(r["name"], r["secret_id"]) for r in rows])

    def _merge_metadata(self, row: sqlite3.Row, set_: Mapping[str, str], remove: set[str]) -> None:
        merged = {**json.loads(row["metadata"]), **set_}
        for key in remove:
            merged.pop(key, None)
        self._db.execute(
            "UPDATE secrets SET metadata = ?, changed = ? WHERE secret_id = ?",
            (json.dumps(merged), self._clock.now(), row["secret_id"]),
        )

    def _update_metadata(self, secret: str, set_: Mapping[str, str], remove: set[str]) -> None:
        with self._tx():
            self._merge_metadata(self._row(secret), set_, remove)

    def _delete(self, secret: str, recovery_days: int | None, force: bool) -> None:
        with self._tx() as db:
            sid = self._row(secret, live=not force)["secret_id"]
            if force:
                db.execute("DELETE FROM versions WHERE secret_id = ?", (sid,))
                db.execute("DELETE FROM secrets WHERE secret_id = ?", (sid,))
                return
            when = self._clock.now() + (recovery_days or self.default_recovery_days) * _DAY
            db.execute("UPDATE secrets SET deletion_date = ? WHERE secret_id = ?", (when, sid))

    def _schedule_version_deletion(self, secret: str, version_id: str) -> None:
        with self._tx() as db:
            row = self._row(secret)
            vrow = self._version_row(row, version_id, None)
            if json.loads(vrow["stages"]):
                raise Conflict(
                    f"version '{version_id}' of secret '{secret}' still holds a stage",
                    hint="only deprecated versions can be deleted",
                )
            when = self._clock.now() + self.version_deletion_days * _DAY
            db.execute(
                "UPDATE versions SET deletion_scheduled = ? WHERE secret_id = ? AND version_id = ?",
                (when, row["secret_id"], version_id),
            )

"""The ledger: which files were ingested (by content hash), their rejected rows, the audit of
remediation actions and the alerts already sent. One SQLite file, safe across processes.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skybridge.apps.costs.convert import RejectedRow
from skybridge.core.clock import iso
from skybridge.core.private_files import private_sqlite
from skybridge.core.sqlite_setup import create_schema, opening

#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 1
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS ingested (
        hash TEXT PRIMARY KEY, source TEXT NOT NULL, kind TEXT NOT NULL, rows INTEGER NOT NULL,
        rejected INTEGER NOT NULL, parquet TEXT NOT NULL, at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS rejects (
        hash TEXT NOT NULL, file TEXT NOT NULL, line INTEGER, reason TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, actor TEXT NOT NULL,
        policy TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, fleet TEXT NOT NULL,
        outcome TEXT NOT NULL, detail TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS alerts (
        incident TEXT PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL)""",
)


@dataclass(frozen=True)
class IngestedFile:
    """One file in the ledger."""

    hash: str
    source: str
    kind: str
    rows: int
    rejected: int
    parquet: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        keys = ("hash", "source", "kind", "rows", "rejected")
        return {k: getattr(self, k) for k in keys} | {"at": iso(self.at)}


class Ledger:
    """The ledger in ``<folder>/ledger.db``."""

    def __init__(self, folder: Path) -> None:
        self.path = private_sqlite(folder / "ledger.db")
        with self._db() as db:
            create_schema(db, self.path, "the costs ledger", SCHEMA_VERSION, _SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with (
            opening(self.path, "the costs ledger"),
            closing(sqlite3.connect(self.path, timeout=30)) as db,
            db,
        ):
            yield db

    def find(self, digest: str) -> IngestedFile | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM ingested WHERE hash = ?", (digest,)).fetchone()
        return IngestedFile(*row) if row else None

    def record(self, entry: IngestedFile, rejects: list[RejectedRow]) -> None:
        """Record a converted file and its rejected rows in one transaction."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO ingested VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.hash,
                    entry.source,
                    entry.kind,
                    entry.rows,
                    entry.rejected,
                    entry.parquet,
                    entry.at,
                ),
            )
            db.execute("DELETE FROM rejects WHERE hash = ?", (entry.hash,))
            db.executemany(
                "INSERT INTO rejects VALUES (?, ?, ?, ?)",
                [(entry.hash, r.file, r.line, r.reason) for r in rejects],
            )

    def files(self) -> list[IngestedFile]:
        with self._db() as db:
            rows = db.execute("SELECT * FROM ingested ORDER BY at, source").fetchall()
        return [IngestedFile(*row) for row in rows]

    def rejects(self, digest: str | None = None) -> list[RejectedRow]:
        sql = "SELECT file, line, reason FROM rejects"
        args: tuple[str, ...] = ()
        if digest is not None:
            sql, args = sql + " WHERE hash = ?", (digest,)
        with self._db() as db:
            return [
                RejectedRow(f, line, reason)
                for f, line, reason in db.execute(sql + " ORDER BY file, line", args)
            ]

    # -- audit -----------------------------------------------------------------------------
    def audit(
        self,
        *,
        actor: str,
        policy: str,
        action: str,
        target: str,
        fleet: str,
        outcome: str,
        detail: str,
    ) -> None:
        with self._db() as db:
            db.execute(
                "INSERT INTO audit (at, actor, policy, action, target, fleet, outcome, detail) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), actor, policy, action, target, fleet, outcome, detail),
            )

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        keys = ("id", "at", "actor", "policy", "action", "target", "fleet", "outcome", "detail")
        with self._db() as db:
            rows = db.execute(
                f"SELECT {', '.join(keys)} FROM audit ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        records = [dict(zip(keys, row, strict=True)) for row in rows]
        return [r | {"at": iso(r["at"])} for r in records]

    # -- alerts ----------------------------------------------------------------------------
    def claim_incident(self, incident: str, kind: str, body: dict[str, Any]) -> bool:
        """Record an alert's incident; ``False`` when it was already announced."""
        with self._db() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO alerts VALUES (?, ?, ?, ?)",
                (incident, time.time(), kind, json.dumps(body)),
            )
            return cursor.rowcount == 1

    def release_incident(self, incident: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM alerts WHERE incident = ?", (incident,))

    def alerts(self, limit: int = 50) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute(
                "SELECT incident, at, kind, body FROM alerts ORDER BY at DESC LIMIT ?", (limit,)
            ).fetchall()
        return [{"incident": i, "at": iso(at), "kind": k, **json.loads(b)} for i, at, k, b in rows]

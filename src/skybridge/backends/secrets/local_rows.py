"""Table layout of the ``local://`` secret store and conversion of its rows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

from skybridge.backends.secrets.types import DEPRECATED, SecretInfo, SecretRef, VersionInfo

#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 1
#: The tables; the indexes are what purges look up (only rows scheduled for deletion).
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    secret_id TEXT NOT NULL UNIQUE,
    description TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    changed REAL NOT NULL,
    deletion_date REAL
)""",
    """CREATE TABLE IF NOT EXISTS versions (
    secret_id TEXT NOT NULL,
    version_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    is_binary INTEGER NOT NULL,
    blob BLOB NOT NULL,
    stages TEXT NOT NULL,
    created REAL NOT NULL,
    deletion_scheduled REAL,
    PRIMARY KEY (secret_id, version_id)
)""",
    """CREATE INDEX IF NOT EXISTS secrets_deletion_date ON secrets (deletion_date)
    WHERE deletion_date IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS versions_deletion_scheduled ON versions (deletion_scheduled)
    WHERE deletion_scheduled IS NOT NULL""",
)


def _time(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def version_from_row(row: sqlite3.Row) -> VersionInfo:
    native = tuple(json.loads(row["stages"]))
    return VersionInfo(
        version_id=row["version_id"],
        stages=frozenset(native or (DEPRECATED,)),
        native_stages=native,
        created=_time(row["created"]),
        deletion_scheduled=_time(row["deletion_scheduled"]),
    )


def info_from_rows(row: sqlite3.Row, versions: Sequence[sqlite3.Row]) -> SecretInfo:
    return SecretInfo(
        ref=SecretRef(row["name"], row["secret_id"]),
        description=row["description"],
        metadata=json.loads(row["metadata"]),
        versions=tuple(version_from_row(v) for v in versions),
        created=_time(row["created"]),
        changed=_time(row["changed"]),
        deletion_date=_time(row["deletion_date"]),
    )

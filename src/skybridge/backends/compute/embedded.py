"""``embedded://PATH``: a fleet kept in a SQLite file, for demos and local runs.

State changes are instant (``stop`` leaves the instance ``stopped``); utilisation is what the
instance was launched with. Every change is one transaction, so concurrent processes see whole
instances.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self, cast

from skybridge.backends.compute.base import ComputeFleet, Instance, State, missing
from skybridge.core.errors import ConfigError
from skybridge.core.private_files import private_sqlite
from skybridge.core.sqlite_setup import create_schema, opening
from skybridge.core.urls import BackendURL

#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
  id TEXT PRIMARY KEY, name TEXT NOT NULL, state TEXT NOT NULL, size TEXT NOT NULL,
  tags TEXT NOT NULL, utilisation REAL, launched_at TEXT NOT NULL
)"""


class EmbeddedFleet(ComputeFleet):
    """Instances in a SQLite file (``<path>/fleet.db``)."""

    capabilities = frozenset({"resize", "terminate", "utilisation", "launch"})
    provider = "embedded"

    def __init__(self, folder: Path) -> None:
        self.path = private_sqlite(folder / "fleet.db")
        what = "the embedded compute fleet"
        with opening(self.path, what), closing(self._connect()) as db, db:
            create_schema(db, self.path, what, SCHEMA_VERSION, [_SCHEMA])

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        if not url.rest:
            raise ConfigError("embedded:// needs a folder, e.g. embedded://.skybridge/compute")
        return cls(Path(url.rest))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def ping(self) -> None:
        with closing(self._connect()) as db:
            db.execute("SELECT count(*) FROM instances").fetchone()

    def _row(self, row: tuple[Any, ...]) -> Instance:
        id_, name, state, size, tags, _, launched = row
        return Instance(
            id=id_,
            name=name,
            state=cast(State, state),
            size=size,
            tags=json.loads(tags),
            region="local",
            provider=self.provider,
            launched_at=datetime.fromisoformat(launched),
        )

    def _list(self) -> Iterator[Instance]:
        with closing(self._connect()) as db:
            rows = db.execute("SELECT * FROM instances ORDER BY name, id").fetchall()
        return iter([self._row(r) for r in rows])

    def _get(self, instance_id: str) -> Instance:
        with closing(self._connect()) as db:
            row = db.execute("SELECT * FROM instances WHERE id = ?", (instance_id,)).fetchone()
        if row is None:
            raise missing("embedded", instance_id)
        return self._row(row)

    def _update(self, instance_id: str, column: str, value: Any) -> None:
        assert column in {"state", "size", "tags"}
        with closing(self._connect()) as db, db:
            db.execute(f"UPDATE instances SET {column} = ? WHERE id = ?", (value, instance_id))

    def _stop(self, instance_id: str) -> None:
        self._update(instance_id, "state", "stopped")

    def _start(self, instance_id: str) -> None:
        self._update(instance_id, "state", "running")

    def _set_tags(self, instance_id: str, tags: Mapping[str, str]) -> None:
        merged = {**self._get(instance_id).tags, **tags}
        self._update(instance_id, "tags", json.dumps(merged, sort_keys=True))

    def _resize(self, instance_id: str, size: str) -> None:
        self._update(instance_id, "size", size)

    def _terminate(self, instance_id: str) -> None:
        self._update(instance_id, "state", "terminated")

    def _utilisation(self, instance_id: str, since: datetime) -> float | None:
        self._get(instance_id)
        with closing(self._connect()) as db:
            sql = "SELECT utilisation FROM instances WHERE id = ?"
            (value,) = db.execute(sql, (instance_id,)).fetchone()
        return None if value is None else float(value)

    def _launch(
        self, name: str, size: str, tags: Mapping[str, str], utilisation: float | None
    ) -> Instance:
        instance_id = f"emb-{uuid.uuid4().hex[:12]}"
        launched = datetime.now(UTC).isoformat()
        row = (instance_id, name, "running", size, json.dumps(dict(tags), sort_keys=True))
        with closing(self._connect()) as db, db:
            db.execute(
                "INSERT INTO instances VALUES (?, ?, ?, ?, ?, ?, ?)", (*row, utilisation, launched)
            )
        return self._get(instance_id)

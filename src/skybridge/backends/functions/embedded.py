"""``embedded://PATH``: a function platform in one folder, for laptops, demos and tests.

Layer zips are files under ``PATH/layers/<name>/<version>.zip``; everything else (layer
versions, grants, functions and their versions, aliases, metric data, alarm states) is one
SQLite database ``PATH/platform.db``, safe across threads and processes. Nothing runs: a
function is its configuration. Alarms have no rules here: setting a state declares the alarm.
ARNs look like AWS's with the partition ``embedded`` and account ``000000000000``.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Self

from skybridge.backends.functions.base import (
    AlarmState,
    Alias,
    FunctionConfig,
    FunctionPlatform,
    Grant,
    LayerVersion,
    Metric,
    parse_layer_arn,
)
from skybridge.backends.functions.checks import check_alias, check_grant, check_layer_name
from skybridge.core.errors import Conflict, NotFound, ValidationError
from skybridge.core.private_files import private_dir
from skybridge.core.sqlite_setup import create_schema, opening, transaction
from skybridge.core.urls import BackendURL

ACCOUNT = "000000000000"
#: The version of the tables below (see :func:`skybridge.core.sqlite_setup.schema_version`).
SCHEMA_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS layers (name TEXT, version INTEGER, doc TEXT, "
    "PRIMARY KEY (name, version))",
    "CREATE TABLE IF NOT EXISTS grants (name TEXT, version INTEGER, sid TEXT, doc TEXT, "
    "PRIMARY KEY (name, version, sid))",
    "CREATE TABLE IF NOT EXISTS functions (name TEXT, version TEXT, seq INTEGER, doc TEXT, "
    "PRIMARY KEY (name, version))",
    "CREATE TABLE IF NOT EXISTS aliases (function TEXT, name TEXT, doc TEXT, "
    "PRIMARY KEY (function, name))",
    "CREATE TABLE IF NOT EXISTS metrics (namespace TEXT, doc TEXT, at REAL)",
    "CREATE TABLE IF NOT EXISTS alarms (name TEXT PRIMARY KEY, state TEXT, reason TEXT)",
)


class EmbeddedFunctions(FunctionPlatform):
    """A function platform in a folder. ``region`` only shapes the ARNs."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"aliases", "metrics", "alarms"})

    def __init__(self, root: Path, *, region: str = "local") -> None:
        self.root = root
        self.region = region
        private_dir(root)
        self._db = sqlite3.connect(
            root / "platform.db", check_same_thread=False, timeout=30, isolation_level=None
        )
        self._lock = threading.Lock()
        try:
            what, path = "the embedded function platform", root / "platform.db"
            with opening(path, what), self._tx() as db:
                create_schema(db, path, what, SCHEMA_VERSION, _SCHEMA)
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        if not url.rest:
            raise ValueError("embedded:// needs a folder, e.g. embedded://.skybridge/functions")
        return cls(url.location(), region=url.params.get("region", "local"), **options)

    def ping(self) -> None:
        with self._tx() as db:
            db.execute("SELECT 1")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One transaction holding the file's write lock from its start, so what it reads
        (the next version number) stays true until it commits, in every process."""
        with self._lock, transaction(self._db) as db:
            yield db

    def _arn(self, kind: str, *parts: object) -> str:
        tail = ":".join(str(p) for p in parts)
        return f"arn:embedded:lambda:{self.region}:{ACCOUNT}:{kind}:{tail}"

    # -- layers ------------------------------------------------------------------------------

    def publish_layer_version(
        self,
        name: str,
        content: bytes,
        *,
        description: str = "",
        runtimes: Sequence[str] = (),
        architectures: Sequence[str] = (),
        license: str | None = None,
    ) -> LayerVersion:
        check_layer_name(name)
        if not content:
            raise ValidationError(f"layer {name}: the zip is empty")
        with self._tx() as db:
            row = db.execute("SELECT MAX(version) FROM layers WHERE name = ?", (name,)).fetchone()
            version = int(row[0] or 0) + 1
            layer = LayerVersion(
                name=name,
                version=version,
                arn=self._arn("layer", name, version),
                created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                description=description,
                runtimes=tuple(runtimes),
                architectures=tuple(architectures),
                code_size=len(content),
                code_sha256=hashlib.sha256(content).hexdigest(),
                license=license,
            )
            self._zip_path(name, version).parent.mkdir(parents=True, exist_ok=True)
            self._zip_path(name, version).write_bytes(content)
            db.execute("INSERT INTO layers VALUES (?, ?, ?)", (name, version, _dump(layer)))
        return layer

    def _zip_path(self, name: str, version: int) -> Path:
        return self.root / "layers" / name / f"{version}.zip"

    def layer_content(self, name: str, version: int) -> bytes:
        """The zip of one layer version (the embedded platform keeps it as a file)."""
        self._layer(name, version)
        return self._zip_path(name, version).read_bytes()

    def list_layers(self) -> list[str]:
        with self._tx() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT name FROM layers ORDER BY name")]

    def list_layer_versions(self, name: str) -> list[LayerVersion]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT doc FROM layers WHERE name = ? ORDER BY version DESC", (name,)
            ).fetchall()
        return [_layer(json.loads(r[0])) for r in rows]

    def _layer(self, name: str, version: int) -> LayerVersion:
        for layer in self.list_layer_versions(name):
            if layer.version == version:
                return layer
        raise NotFound(f"layer {name} has no version {version}")

    def delete_layer_version(self, name: str, version: int) -> None:
        self._layer(name, version)
        with self._tx() as db:
            db.execute("DELETE FROM layers WHERE name = ? AND version = ?", (name, version))
            db.execute("DELETE FROM grants WHERE name = ? AND version = ?", (name, version))
        self._zip_path(name, version).unlink(missing_ok=True)

    def add_layer_grant(self, name: str, version: int, grant: Grant) -> None:
        check_grant(grant)
        self._layer(name, version)
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO grants VALUES (?, ?, ?, ?)",
                    (name, version, grant.statement_id, _dump(grant)),
                )
        except sqlite3.IntegrityError:
            raise Conflict(
                f"layer {name}:{version} already has a grant {grant.statement_id!r}"
            ) from None

    def layer_grants(self, name: str, version: int) -> list[Grant]:
        self._layer(name, version)
        with self._tx() as db:
            rows = db.execute(
                "SELECT doc FROM grants WHERE name = ? AND version = ? ORDER BY sid",
                (name, version),
            ).fetchall()
        return [Grant(**json.loads(r[0])) for r in rows]

    # -- functions ---------------------------------------------------------------------------

    def create_function(
        self,
        name: str,
        *,
        runtime: str,
        code: bytes,
        handler: str = "app.handler",
        architectures: Sequence[str] = ("x86_64",),
        layers: Sequence[str] = (),
        role: str | None = None,
    ) -> FunctionConfig:
        check_layer_name(name, what="function")
        self._check_layers(layers)
        config = FunctionConfig(
            name,
            "$LATEST",
            self._arn("function", name),
            runtime,
            tuple(architectures),
            tuple(layers),
        )
        try:
            with self._tx() as db:
                db.execute(
                    "INSERT INTO functions VALUES (?, ?, 0, ?)", (name, "$LATEST", _dump(config))
                )
        except sqlite3.IntegrityError:
            raise Conflict(f"function {name} already exists") from None
        return config

    def _check_layers(self, layers: Sequence[str]) -> None:
        if len(layers) > 5:
            raise ValidationError(f"a function takes at most 5 layers, not {len(layers)}")
        for arn in layers:
            name, version = _name_version(arn)
            if not any(v.arn == arn for v in self.list_layer_versions(name)):
                raise ValidationError(f"layer version {arn} does not exist (name {name}:{version})")

    def list_functions(self) -> list[str]:
        with self._tx() as db:
            query = "SELECT name FROM functions WHERE version = '$LATEST' ORDER BY name"
            return [r[0] for r in db.execute(query)]

    def function_versions(self, function: str) -> list[FunctionConfig]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT doc FROM functions WHERE name = ? ORDER BY seq", (function,)
            ).fetchall()
        if not rows:
            raise NotFound(f"no function called {function}")
        return [_function(json.loads(r[0])) for r in rows]

    def set_function_layers(self, function: str, layers: Sequence[str]) -> FunctionConfig:
        self._check_layers(layers)
        latest = self.function(function)
        updated = FunctionConfig(**{**latest.__dict__, "layers": tuple(layers)})
        with self._tx() as db:
            db.execute(
                "UPDATE functions SET doc = ? WHERE name = ? AND version = '$LATEST'",
                (_dump(updated), function),
            )
        return updated

    def publish_function_version(self, function: str, description: str = "") -> FunctionConfig:
        latest = self.function(function)
        with self._tx() as db:
            row = db.execute("SELECT MAX(seq) FROM functions WHERE name = ?", (function,))
            seq = int(row.fetchone()[0] or 0) + 1
            version = FunctionConfig(
                **{**latest.__dict__, "version": str(seq), "arn": f"{latest.arn}:{seq}"}
            )
            db.execute(
                "INSERT INTO functions VALUES (?, ?, ?, ?)",
                (function, str(seq), seq, _dump(version)),
            )
        return version

    def get_alias(self, function: str, name: str) -> Alias:
        self.function(function)
        with self._tx() as db:
            row = db.execute(
                "SELECT doc FROM aliases WHERE function = ? AND name = ?", (function, name)
            ).fetchone()
        if row is None:
            raise NotFound(f"function {function} has no alias {name}")
        return Alias(**json.loads(row[0]))

    def put_alias(self, alias: Alias) -> Alias:
        versions = {v.version for v in self.function_versions(alias.function)}
        check_alias(alias, versions)
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO aliases VALUES (?, ?, ?)",
                (alias.function, alias.name, _dump(alias)),
            )
        return alias

    # -- metrics and alarms ------------------------------------------------------------------

    def put_metrics(self, namespace: str, metrics: Sequence[Metric]) -> None:
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "INSERT INTO metrics VALUES (?, ?, ?)",
                [(namespace, _dump(m), now) for m in metrics],
            )

    def metric_data(self, namespace: str, name: str) -> list[Metric]:
        """Data points recorded for one metric, oldest first."""
        with self._tx() as db:
            rows = db.execute(
                "SELECT doc FROM metrics WHERE namespace = ? ORDER BY at", (namespace,)
            ).fetchall()
        found = [Metric(**json.loads(r[0])) for r in rows]
        return [m for m in found if m.name == name]

    def alarm_state(self, alarm: str) -> AlarmState:
        with self._tx() as db:
            row = db.execute("SELECT state FROM alarms WHERE name = ?", (alarm,)).fetchone()
        if row is None:
            raise NotFound(f"no alarm called {alarm}")
        state: AlarmState = row[0]
        return state

    def set_alarm_state(self, alarm: str, state: AlarmState, reason: str) -> None:
        if state not in ("OK", "ALARM", "INSUFFICIENT_DATA"):
            raise ValidationError(f"alarm state {state!r} is not OK, ALARM or INSUFFICIENT_DATA")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO alarms VALUES (?, ?, ?)", (alarm, state, reason))


def _dump(value: Any) -> str:
    return json.dumps(value.__dict__, default=dict)


def _layer(doc: dict[str, Any]) -> LayerVersion:
    doc["runtimes"] = tuple(doc["runtimes"])
    doc["architectures"] = tuple(doc["architectures"])
    return LayerVersion(**doc)


def _function(doc: dict[str, Any]) -> FunctionConfig:
    doc["architectures"] = tuple(doc["architectures"])
    doc["layers"] = tuple(doc["layers"])
    return FunctionConfig(**doc)


def _name_version(arn: str) -> tuple[str, int]:
    try:
        _, name, version = parse_layer_arn(arn)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return name, version

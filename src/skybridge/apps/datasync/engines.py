"""The backends one :class:`~.service.DataSync` uses, connected on first use.

The target database gets a connection pool sized like the original's session pool
(``pool_size`` kept open, up to ``pool_size + max_overflow``, callers waiting up to
``pool_timeout`` seconds, connections recycled after ``pool_recycle`` and checked before use).
SQLite files keep SQLAlchemy's defaults: one writer at a time is SQLite's own limit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from skybridge.apps.datasync import metrics
from skybridge.apps.datasync.config import DataSyncConfig
from skybridge.apps.datasync.sides import Side, open_side
from skybridge.apps.datasync.target import SqlTarget
from skybridge.apps.kit.context import AppContext
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.objects import ObjectStore
from skybridge.backends.sql import create_sql_engine
from skybridge.backends.streams import StreamBackend


def pool_options(config: DataSyncConfig, url: str) -> dict[str, Any]:
    """SQLAlchemy pool settings for ``url`` (none for SQLite)."""
    if url.startswith("sqlite"):
        return {}
    return {
        "pool_size": config.pool_size,
        "max_overflow": config.max_overflow,
        "pool_timeout": config.pool_timeout,
        "pool_recycle": config.pool_recycle,
        "pool_pre_ping": True,
    }


def open_engine(config: DataSyncConfig, url: str, setting: str) -> Engine:
    return create_sql_engine(url, setting=setting, **pool_options(config, url))


class Resources:
    """Lazily connected backends of one app context; :meth:`close` releases them all."""

    def __init__(self, ctx: AppContext[DataSyncConfig]) -> None:
        self.ctx = ctx
        self.config = ctx.config
        self._made: dict[str, Any] = {}

    def _get(self, name: str, make: Any) -> Any:
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    @property
    def target(self) -> SqlTarget:
        def make() -> SqlTarget:
            url = self.config.target or self.ctx.backend_url("sql")
            setting = "datasync.target" if self.config.target else "backends.sql"
            engine = open_engine(self.config, url, setting)
            metrics.watch_pool(engine)
            return SqlTarget(engine, self.config.tables)

        target: SqlTarget = self._get("target", make)
        return target

    @property
    def source(self) -> Engine | None:
        if not self.config.source:
            return None
        url = self.config.source
        engine: Engine = self._get(
            "source", lambda: open_engine(self.config, url, "datasync.source")
        )
        return engine

    @property
    def streams(self) -> StreamBackend:
        streams: StreamBackend = self._get("streams", lambda: self.ctx.connect("streams"))
        return streams

    @property
    def kv(self) -> KeyValueStore:
        kv: KeyValueStore = self._get("kv", lambda: self.ctx.connect("kv"))
        return kv

    def _objects(self) -> ObjectStore:
        store: ObjectStore = self._get("objects", lambda: self.ctx.connect("objects"))
        return store

    def _side(self, name: str, url: str | None) -> Side:
        side: Side = self._get(name, lambda: open_side(name, url, None if url else self._objects()))
        return side

    @property
    def aws(self) -> Side:
        return self._side("aws", self.config.aws_objects)

    @property
    def oci(self) -> Side:
        return self._side("oci", self.config.oci_objects)

    def close(self) -> None:
        made, self._made = self._made, {}
        for name, thing in made.items():
            if name in ("target",):
                thing.engine.dispose()
            elif name == "source":
                thing.dispose()
            elif isinstance(thing, Side):
                if thing.prefix == "":  # its own store; a shared default is closed once below
                    thing.close()
            else:
                thing.close()

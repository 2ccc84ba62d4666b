"""The target's connection pool follows the original's session pool (min 2, max 10, wait)."""

from __future__ import annotations

from sqlalchemy.pool import QueuePool

from skybridge.apps.datasync.config import DataSyncConfig
from skybridge.apps.datasync.engines import open_engine, pool_options


def test_postgresql_and_oracle_get_the_configured_pool() -> None:
    config = DataSyncConfig(pool_size=2, max_overflow=8, pool_timeout=5)
    for url in (
        "postgresql://sync@db.internal/prod",
        "oracle://sync@adb.internal:1522/?service_name=s",
    ):
        engine = open_engine(config, url, "datasync.target")  # no connection is made
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow, pool._timeout) == (2, 8, 5)
        assert pool._pre_ping
        engine.dispose()


def test_sqlite_keeps_sqlalchemys_defaults() -> None:
    assert pool_options(DataSyncConfig(), "sqlite:///x.db") == {}

"""The SQLAlchemy engine factory: SQLite pragmas, PostgreSQL via psycopg, lazy Oracle, bad URLs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from skybridge.backends.sql import create_sql_engine, normalise_url
from skybridge.core.errors import ConfigError, MissingDependency
from skybridge.testing.servers import RunningServer


def test_sqlite_relative_path_creates_folder_with_wal_and_foreign_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    engine = create_sql_engine("sqlite:///.skybridge/nested/app.db")
    assert (tmp_path / ".skybridge" / "nested").is_dir()
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000
    engine.dispose()
    assert (tmp_path / ".skybridge" / "nested" / "app.db").is_file()


def test_sqlite_foreign_keys_are_enforced(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path}/fk.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE child (pid INTEGER REFERENCES parent(id))"))
    with pytest.raises(Exception, match="FOREIGN KEY"), engine.begin() as conn:
        conn.execute(text("INSERT INTO child VALUES (42)"))
    engine.dispose()


def test_sqlite_memory_needs_no_folder() -> None:
    engine = create_sql_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1 + 1")).scalar() == 2
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_url_uses_psycopg_and_round_trips(postgres_server: RunningServer) -> None:
    assert postgres_server.url.startswith("postgresql://")
    engine = create_sql_engine(postgres_server.url)
    assert engine.dialect.driver == "psycopg"
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE t (k text PRIMARY KEY, v int)"))
        conn.execute(
            text("INSERT INTO t VALUES (:k, :v)"), [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
        )
        assert conn.execute(text("SELECT sum(v) FROM t")).scalar() == 3
        assert conn.execute(text("SHOW server_version_num")).scalar() >= "180000"
    engine.dispose()


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        (
            "oracle://u@h:1521/?service_name=FREEPDB1",
            "oracle+oracledb://u@h:1521/?service_name=FREEPDB1",
        ),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_normalise_url(url: str, normalised: str) -> None:
    assert normalise_url(url) == normalised


def test_oracle_url_builds_lazily_without_connecting() -> None:
    # Port 9 (discard) on a TEST-NET address: any connection attempt would hang or fail.
    engine = create_sql_engine("oracle://scott:tiger-Pass1@192.0.2.1:9/?service_name=FREEPDB1")
    assert engine.url.drivername == "oracle+oracledb"
    assert engine.dialect.driver == "oracledb"
    assert engine.pool.checkedout() == 0
    assert "tiger-Pass1" not in repr(engine)
    engine.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "post gres://admin:hunter2-Secret@db.example.com/app",
        "postgresql://admin:hunter2-Secret@db.example.com:notaport/app",
        "nosuchdb://admin:hunter2/Secret@db.example.com/app",
        "nosuchdb://admin:hunter2-Secret@db.example.com/app",
        "postgresql+nosuchdriver://admin:hunter2-Secret@db.example.com/app",
        "admin:hunter2-Secret@db.example.com/app",
    ],
)
def test_bad_url_is_config_error_with_password_masked(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_sql_engine(url)
    message = str(info.value)
    assert info.value.setting == "backends.sql"
    assert message.startswith("backends.sql: ")
    assert "hunter2" not in message
    assert "Secret@" not in message


def test_setting_name_is_carried() -> None:
    with pytest.raises(ConfigError) as info:
        create_sql_engine("nosuchdb://x", setting="apps.assertions.database")
    assert info.value.setting == "apps.assertions.database"


def test_missing_driver_package_names_the_install() -> None:
    with pytest.raises(MissingDependency) as info:
        create_sql_engine("postgresql+pg8000://u:pw-Secret@h/db")
    assert info.value.package == "pg8000"
    assert "pip install" in str(info.value)

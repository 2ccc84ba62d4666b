"""The SQLAlchemy engine factory: SQLite pragmas, PostgreSQL via psycopg, lazy Oracle, bad URLs."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text

from skybridge.backends.sql import create_sql_engine, normalise_url, sql_role_warnings
from skybridge.core.errors import ConfigError, MissingDependency, TransientError
from skybridge.testing.servers import RunningServer, free_port


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


@pytest.mark.parametrize("url", ["mysql://u:pw-Secret@h/db", "mssql+pyodbc://h/db"])
def test_a_database_skybridge_does_not_run_on_is_refused_naming_those_it_does(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        create_sql_engine(url, setting="datasync.target")
    assert info.value.setting == "datasync.target"
    assert "skybridge does not run on" in info.value.message
    assert "postgresql://" in str(info.value.hint)
    assert "pw-Secret" not in str(info.value)


def test_missing_driver_package_names_the_install() -> None:
    with pytest.raises(MissingDependency) as info:
        create_sql_engine("postgresql+pg8000://u:pw-Secret@h/db")
    assert info.value.package == "pg8000"
    assert "pip install" in str(info.value)


@pytest.mark.postgres
def test_role_warnings_name_a_superuser(postgres_server: RunningServer) -> None:
    engine = create_sql_engine(postgres_server.url)
    (warning,) = sql_role_warnings(engine)
    assert "'postgres' is a superuser" in warning
    assert "without SUPERUSER" in warning
    engine.dispose()


@pytest.fixture
def plain_role(postgres_server: RunningServer) -> Iterator[tuple[str, str]]:
    """A LOGIN role without superuser, and its URL; dropped afterwards."""
    admin = create_sql_engine(postgres_server.url)
    name = f"app_{uuid.uuid4().hex[:8]}"
    with admin.begin() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD 'pw-{name}'"))
    url = make_url(normalise_url(postgres_server.url)).set(username=name, password=f"pw-{name}")
    yield name, url.render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f"DROP ROLE {name}"))
    admin.dispose()


@pytest.mark.postgres
def test_role_warnings_name_server_file_and_program_roles(
    postgres_server: RunningServer, plain_role: tuple[str, str]
) -> None:
    name, url = plain_role
    engine = create_sql_engine(url)
    assert sql_role_warnings(engine) == []
    admin = create_sql_engine(postgres_server.url)
    with admin.begin() as conn:
        conn.execute(text(f"GRANT pg_execute_server_program, pg_read_server_files TO {name}"))
    warnings = sql_role_warnings(engine)
    assert len(warnings) == 2
    assert f'REVOKE pg_execute_server_program FROM "{name}"' in warnings[0]
    assert "COPY PROGRAM" in warnings[0]
    assert "pg_read_server_files" in warnings[1]
    with admin.begin() as conn:
        conn.execute(text(f"REVOKE pg_execute_server_program, pg_read_server_files FROM {name}"))
    engine.dispose()
    admin.dispose()


def test_role_warnings_are_empty_off_postgresql(tmp_path: Path) -> None:
    engine = create_sql_engine(f"sqlite:///{tmp_path}/x.db")
    assert sql_role_warnings(engine) == []
    engine.dispose()


@pytest.mark.postgres
def test_role_warnings_report_an_unreachable_database(postgres_server: RunningServer) -> None:
    url = make_url(normalise_url(postgres_server.url)).set(port=free_port())
    engine = create_sql_engine(url.render_as_string(hide_password=False))
    with pytest.raises(TransientError, match="cannot read the database role"):
        sql_role_warnings(engine)
    engine.dispose()


def test_a_database_that_cannot_be_written_is_a_config_error_naming_the_file(
    tmp_path: Path,
) -> None:
    from skybridge.backends.sql import _sqlite_pragmas

    path = tmp_path / "kv.db"
    sqlite3.connect(path).execute("CREATE TABLE t (a)").connection.close()  # rollback journal
    read_only = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    with pytest.raises(ConfigError, match="readonly database") as info:
        _sqlite_pragmas(read_only, None, where=str(path), setting="backends.kv")
    assert info.value.message.startswith(f"{path}: ")
    assert info.value.setting == "backends.kv"
    assert f"make {tmp_path} and the files in it writable" in str(info.value.hint)

    class Broken:
        def execute(self, statement: str) -> None:
            raise sqlite3.OperationalError("near 'PRAGMA': syntax error")

    with pytest.raises(sqlite3.OperationalError, match="syntax error"):  # not ours to explain
        _sqlite_pragmas(Broken(), None, where=str(path), setting="backends.kv")

"""The catalog records its schema version (``assertions`` in ``skybridge_schema``): a new one
is version 1, one from before versions is adopted as it is, a newer one is refused by name,
and processes opening a fresh database at once all succeed."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from structlog.testing import capture_logs
from typer.testing import CliRunner

from skybridge.apps.assertions import api
from skybridge.apps.assertions.catalog import SCHEMA_VERSION
from skybridge.backends.sql import create_sql_engine
from skybridge.backends.sql_schema import recorded_version, versions_metadata
from skybridge.cli import app
from skybridge.core.errors import ConfigError

from .conftest import assertions_script, schema_script, sla_script

ONE_RULE = (
    "CREATE ASSERTION IF NOT EXISTS no_orphan_ticket CHECK (NOT EXISTS (SELECT 1 FROM tickets t "
    "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)))"
)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _rows(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM skybridge_assertions"))]


def _record(engine: Engine, version: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE skybridge_schema SET version = :v WHERE component = 'assertions'"),
            {"v": version},
        )


def _with_password(engine: Engine) -> str:
    """The URL of ``engine``'s database with a password (PostgreSQL: the test server trusts
    every login; SQLite has none)."""
    if engine.dialect.name == "sqlite":
        return _url(engine)
    return engine.url.set(password="s3cret-pw").render_as_string(hide_password=False)


def test_a_new_catalog_is_version_1(engine: Engine) -> None:
    assert recorded_version(engine, "assertions") is None
    api.apply(sla_script(), engine)
    assert SCHEMA_VERSION == 1
    assert recorded_version(engine, "assertions") == 1
    api.apply("SELECT 1", engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT component, version FROM skybridge_schema")).all()
    assert [tuple(r) for r in rows] == [("assertions", 1)]


def test_reading_a_database_creates_nothing(engine: Engine) -> None:
    assert api.list_assertions(engine) == []
    with engine.connect() as conn:
        assert not conn.dialect.has_table(conn, "skybridge_schema")
        assert not conn.dialect.has_table(conn, "skybridge_assertions")


@pytest.mark.parametrize("before", ["no versions table", "no row of its own"])
def test_a_catalog_from_before_versions_is_adopted_untouched(engine: Engine, before: str) -> None:
    api.apply(sla_script(), engine)
    with engine.begin() as conn:
        if before == "no versions table":
            conn.execute(text("DROP TABLE skybridge_schema"))
        else:  # another component recorded its version, the catalog did not
            conn.execute(text("DELETE FROM skybridge_schema"))
            conn.execute(text("INSERT INTO skybridge_schema VALUES ('anomaly', 1)"))
    kept = _rows(engine)
    assert len(kept) == 3
    assert [a.name for a in api.list_assertions(engine)] == sorted(r[0] for r in kept)
    assert recorded_version(engine, "assertions") is None  # reading records nothing

    api.apply("SELECT 1", engine)
    assert recorded_version(engine, "assertions") == 1
    assert _rows(engine) == kept  # not a row rewritten (updated_at included)
    assert all(r.ok for r in api.check(engine))


def test_a_newer_catalog_is_refused_naming_the_database(
    engine: Engine, request: pytest.FixtureRequest
) -> None:
    api.apply(sla_script(), engine)
    _record(engine, SCHEMA_VERSION + 1)
    kept = _rows(engine)
    reached = create_sql_engine(_with_password(engine))
    request.addfinalizer(reached.dispose)
    calls = {
        "list": lambda: api.list_assertions(reached),
        "check": lambda: api.check(reached),
        "explain": lambda: api.explain(reached, "sla_must_have_services"),
        "apply": lambda: api.apply(assertions_script(), reached),
        "apply_assertions_only": lambda: api.apply_assertions_only(ONE_RULE, reached),
    }
    for name, call in calls.items():
        with pytest.raises(ConfigError) as caught:
            call()
        message = caught.value.message
        assert "holds assertions tables of a newer skybridge" in message, name
        assert "schema version 2; this version reads up to 1" in message, name
        assert str(reached.url.database) in message, name
        assert "s3cret-pw" not in message, name
        assert "upgrade skybridge" in str(caught.value.hint)
    assert _rows(engine) == kept
    assert recorded_version(engine, "assertions") == 2


def test_the_command_line_refuses_a_newer_catalog_with_exit_code_2(
    engine: Engine, skybridge_workdir: Path
) -> None:
    api.apply(sla_script(), engine)
    _record(engine, 7)
    url = _with_password(engine).replace("+psycopg", "")
    for args in (["list"], ["check"], ["apply", str(skybridge_workdir / "empty.sql")]):
        (skybridge_workdir / "empty.sql").write_text("SELECT 1")
        result = CliRunner().invoke(app, ["assert", *args, "--db", url])
        assert result.exit_code == 2, result.output
        err = " ".join(result.stderr.split())
        assert "holds assertions tables of a newer skybridge (schema version 7" in err
        assert "upgrade skybridge" in err
        assert "Traceback" not in result.output
        assert "s3cret-pw" not in result.output


def test_an_apply_waiting_for_the_catalog_lock_sees_a_version_recorded_meanwhile(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer skybridge upgrades the catalog holding its lock: an apply that checked the
    version before it waited for the lock checks it again under the lock, and writes nothing."""
    api.apply(schema_script(), engine)
    recorded = threading.Event()
    real = api.record_version

    def record_then_tell(target: Engine) -> None:
        real(target)
        recorded.set()

    monkeypatch.setattr(api, "record_version", record_then_tell)
    outcome: list[BaseException | None] = []

    def apply() -> None:
        try:
            api.apply(assertions_script(), engine)
            outcome.append(None)
        except BaseException as exc:  # reported to the test below
            outcome.append(exc)

    with api.transaction(engine) as conn:  # the upgrade: holds the catalog lock
        api.lock_catalog(conn)
        worker = threading.Thread(target=apply)
        worker.start()
        assert recorded.wait(30)  # the apply found version 1, then waits for the lock
        conn.execute(text("UPDATE skybridge_schema SET version = 2"))
    worker.join(60)
    [failure] = outcome
    assert isinstance(failure, ConfigError), failure
    assert "newer skybridge (schema version 2" in failure.message
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM skybridge_assertions")).scalar()
    assert count == 0


def _first_apply(url: str, barrier: Any, results: Any) -> None:
    engine = create_sql_engine(url)
    barrier.wait()
    try:
        api.apply(ONE_RULE, engine)
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()


def test_processes_applying_on_a_fresh_database_at_once_all_succeed(
    dialect: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    context = multiprocessing.get_context("fork")
    processes = 4
    for attempt in range(3):
        engine = _fresh(dialect, request, tmp_path / f"fresh-{attempt}.db")
        api.apply(schema_script(), engine)  # the tables; no catalog, no version yet
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS skybridge_schema"))
            conn.execute(text("DROP TABLE IF EXISTS skybridge_assertions"))
        barrier, results = context.Barrier(processes), context.Queue()
        workers = [
            context.Process(target=_first_apply, args=(_url(engine), barrier, results))
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=120) for _ in workers]
        for worker in workers:
            worker.join()
        assert outcomes == ["ok"] * processes
        assert recorded_version(engine, "assertions") == 1
        assert [a.name for a in api.list_assertions(engine)] == ["no_orphan_ticket"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _fresh(dialect: str, request: pytest.FixtureRequest, path: Path) -> Engine:
    if dialect == "postgres":
        factory = request.getfixturevalue("pg_database")
        return factory()  # type: ignore[no-any-return]
    return create_sql_engine(f"sqlite:///{path}")


@pytest.mark.postgres
def test_a_role_that_may_not_read_the_versions_table_still_lists_and_checks(
    pg_engine: Engine,
) -> None:
    """Read-only roles granted the catalog and the tables, not ``skybridge_schema``."""
    api.apply(sla_script(), pg_engine)
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        conn.exec_driver_sql(f"REVOKE SELECT ON skybridge_schema FROM {role}")
    reader = create_sql_engine(pg_engine.url.set(username=role).render_as_string(False))
    try:
        assert len(api.list_assertions(reader)) == 3
        assert all(r.ok for r in api.check(reader))
    finally:
        reader.dispose()


@pytest.mark.postgres
def test_a_role_that_may_not_write_the_versions_table_still_applies(pg_engine: Engine) -> None:
    """``skybridge_schema`` made by another role; this one owns its own tables only."""
    versions_metadata.create_all(pg_engine)
    role = f"app_{uuid.uuid4().hex[:8]}"
    with pg_engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}")
    app_engine = create_sql_engine(pg_engine.url.set(username=role).render_as_string(False))
    try:
        with capture_logs() as logs:
            api.apply(sla_script(), app_engine)
        assert [e["event"] for e in logs if "version" in e["event"]] == [
            "assertions.version_not_recorded"
        ]
        assert len(api.list_assertions(app_engine)) == 3
        assert recorded_version(pg_engine, "assertions") is None
        api.apply(ONE_RULE, pg_engine)  # a role that may records it
        assert recorded_version(pg_engine, "assertions") == SCHEMA_VERSION
    finally:
        app_engine.dispose()

"""A command pointed at the wrong database, or one that fails, leaves nothing behind.

Commands that do not create (list, check, explain, enable, disable, drop) refuse a SQLite
file that does not exist instead of reading a new empty one (a CI ``check`` on a mistyped
path passed); ``apply`` checks its script before it touches the database, and removes a
database file it created when it fails; an empty ``--db`` is refused, not read as "default".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect
from typer.testing import CliRunner

from skybridge.apps.assertions import api
from skybridge.apps.assertions.created_database import removed_if_failed
from skybridge.cli import app
from skybridge.core.errors import ValidationError

from .conftest import sla_script

runner = CliRunner()
NOT_AN_ASSERTION = "CREATE TABLE t (a INTEGER);\nCREATE ASSERTION x CHECK (1 = 1);\n"
REJECTED = "CREATE TABLE t (a INTEGER);\nINSERT INTO no_such_table VALUES (1);\n"
VIOLATED = (
    "CREATE TABLE t (a INTEGER);\nINSERT INTO t VALUES (-1);\n"
    "CREATE ASSERTION pos CHECK (NOT EXISTS (SELECT 1 FROM t WHERE a < 0));\n"
)
VALID = "CREATE TABLE t (a INTEGER);\nCREATE ASSERTION pos CHECK (NOT EXISTS (SELECT 1 FROM t));\n"


@pytest.fixture(autouse=True)
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["assert", *args])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.stderr.split())


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


@pytest.mark.parametrize(
    "command",
    [
        ["list"],
        ["check", "--json"],
        ["check", "pos"],
        ["explain", "pos"],
        ["enable", "pos"],
        ["disable", "pos"],
        ["drop", "pos"],
    ],
)
def test_commands_that_do_not_create_refuse_a_missing_sqlite_file(
    workdir: Path, command: list[str]
) -> None:
    code, err = _run(*command, "--db", "sqlite:///typo2.db")
    assert code == 2, err
    assert f"SQLite database typo2.db (in {workdir}) does not exist" in err
    assert "check the path in --db" in err
    assert "skybridge assert apply" in err
    assert list(workdir.iterdir()) == []


def test_an_absolute_missing_path_is_named_as_given(workdir: Path) -> None:
    code, err = _run("check", "--db", f"sqlite:///{workdir / 'typo.db'}", "--json")
    assert code == 2
    assert f"error: --db: SQLite database {workdir / 'typo.db'} does not exist" in err
    assert not (workdir / "typo.db").exists()


def test_a_configured_database_outside_the_data_folder_must_exist_to_be_read(
    workdir: Path,
) -> None:
    (workdir / "skybridge.toml").write_text(
        f'[backends]\nsql = "sqlite:///{workdir / "configured.db"}"\n'
    )
    code, err = _run("list")
    assert code == 2
    assert "backends.sql: SQLite database" in err
    assert "check the path in backends.sql" in err
    assert not (workdir / "configured.db").exists()


def test_skybridges_own_database_is_still_made_on_first_use(workdir: Path) -> None:
    code, err = _run("list", "--json")  # the default backends.sql, in the data folder
    assert code == 0, err


def test_an_existing_sqlite_file_is_read(workdir: Path) -> None:
    (workdir / "app.db").write_text("")  # an empty file is an empty SQLite database
    code, err = _run("check", "--db", "sqlite:///app.db", "--json")
    assert code == 0, err


@pytest.mark.parametrize("given", ["", "  "])
@pytest.mark.parametrize("command", ["list", "check", "apply"])
def test_an_empty_db_is_refused(workdir: Path, given: str, command: str) -> None:
    (workdir / "configured.sql").write_text(VALID)
    (workdir / "skybridge.toml").write_text(
        f'[backends]\nsql = "sqlite:///{workdir / "configured.db"}"\n'
    )
    args = [command, "configured.sql"] if command == "apply" else [command]
    code, err = _run(*args, "--db", given)
    assert code == 2
    assert "--db is empty; give a database URL or leave it out" in err
    assert not (workdir / "configured.db").exists()


@pytest.mark.parametrize(
    ("script", "exit_code"), [(NOT_AN_ASSERTION, 2), (REJECTED, 2), (VIOLATED, 1)]
)
def test_a_failed_apply_leaves_no_new_database(workdir: Path, script: str, exit_code: int) -> None:
    (workdir / "bad.sql").write_text(script)
    code, err = _run("apply", "bad.sql", "--db", "sqlite:///new1.db")
    assert code == exit_code, err
    assert sorted(p.name for p in workdir.iterdir()) == ["bad.sql"]


def test_a_failed_apply_keeps_an_existing_database(workdir: Path) -> None:
    (workdir / "good.sql").write_text(VALID)
    assert _run("apply", "good.sql", "--db", "sqlite:///app.db")[0] == 0
    before = _tables(workdir / "app.db")
    (workdir / "bad.sql").write_text(REJECTED)
    code, _ = _run("apply", "bad.sql", "--db", "sqlite:///app.db")
    assert code == 2
    assert _tables(workdir / "app.db") == before
    (workdir / "empty.db").write_text("")  # existing, empty: still not this command's to remove
    assert _run("apply", "bad.sql", "--db", "sqlite:///empty.db")[0] == 2
    assert (workdir / "empty.db").is_file()


def test_a_successful_apply_keeps_the_database_it_created(workdir: Path) -> None:
    (workdir / "good.sql").write_text(VALID)
    code, err = _run("apply", "good.sql", "--db", "sqlite:///new.db")
    assert code == 0, err
    assert "skybridge_assertions" in _tables(workdir / "new.db")


def test_a_new_file_another_writer_filled_meanwhile_is_kept(workdir: Path) -> None:
    path = workdir / "shared.db"

    def fail_after_another_writer() -> None:
        with removed_if_failed(f"sqlite:///{path}", "--db"):
            assert path.is_file()  # claimed before the engine opens it
            with closing(sqlite3.connect(path)) as conn:
                conn.execute("CREATE TABLE theirs (a INTEGER)")
                conn.commit()
            raise RuntimeError("the apply failed")

    with pytest.raises(RuntimeError):
        fail_after_another_writer()
    assert _tables(path) == {"theirs"}


@pytest.mark.parametrize(
    "script",
    [
        NOT_AN_ASSERTION,
        "CREATE TABLE t (a INTEGER);\nCREATE ASSERTION x CHECK (NOT EXISTS "
        "(SELECT 1 FROM t WHERE a < random()));\n",
        "CREATE TABLE t (a INTEGER);\nALTER ASSERTION x DISABLE VALIDATE;\n",
    ],
)
def test_a_script_wrong_on_its_own_writes_nothing(engine: Engine, script: str) -> None:
    """SQLite and PostgreSQL: refused before the version is recorded or any statement runs."""
    with pytest.raises(ValidationError, match=r"^script\.sql:2: "):
        api.apply(script, engine, source="script.sql")
    assert inspect(engine).get_table_names() == []


@pytest.mark.postgres
def test_postgresql_reads_and_applies_as_before(pg_database: Callable[[], Engine]) -> None:
    engine = pg_database()
    url = engine.url.render_as_string(hide_password=False)
    assert _run("list", "--db", url) == (0, "")  # a fresh database: nothing to refuse
    assert inspect(engine).get_table_names() == []  # and reading made nothing
    Path("sla.sql").write_text(sla_script())
    assert _run("apply", "sla.sql", "--db", url)[0] == 0
    Path("bad.sql").write_text(REJECTED)
    assert _run("apply", "bad.sql", "--db", url)[0] == 2
    assert _run("check", "--db", url, "--json")[0] == 0

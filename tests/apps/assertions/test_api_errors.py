"""The Python API reports database failures as the command line does, and refuses bad arguments.

``api.check``, ``api.apply``, ``api.list_assertions`` and ``api.transaction`` (with
``api.run_sql`` inside it) turn driver errors into skybridge's: an unreachable database is a
``TransientError`` with the CLI's hint, a statement the database refuses is ``ScriptRejected``
(a ``ValidationError``) that quotes no row values; violations and serialization failures keep
their own errors. A URL where an engine goes, or a script that is not text, is a
``ValidationError`` naming the argument.
"""

from __future__ import annotations

import socket
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import AssertionViolation, ScriptRejected
from skybridge.backends.sql import create_sql_engine
from skybridge.core.errors import TransientError, ValidationError

from .conftest import sla_script

SECRET = "alice@example.com"
HINT = "check that the database is running"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _in_transaction(engine: Engine, sql: str) -> None:
    with api.transaction(engine) as conn:
        api.run_sql(conn, sql)


def _shown(error: BaseException) -> str:
    """Everything a user sees of ``error``: its text, hint and printed traceback."""
    return "".join(traceback.format_exception(error)) + str(getattr(error, "hint", ""))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda e: api.check(e), id="check"),
        pytest.param(lambda e: api.check(e, "x"), id="check-one"),
        pytest.param(lambda e: api.apply("SELECT 1", e), id="apply"),
        pytest.param(lambda e: api.list_assertions(e), id="list"),
        pytest.param(lambda e: _in_transaction(e, "SELECT 1"), id="transaction"),
    ],
)
def test_an_unreachable_database_is_a_transient_error_with_the_cli_hint(
    call: Callable[[Engine], Any],
) -> None:
    engine = create_sql_engine(f"postgresql://u:pw-secret@127.0.0.1:{_closed_port()}/db")
    with pytest.raises(TransientError, match="is unreachable") as caught:
        call(engine)
    assert HINT in (caught.value.hint or "")
    assert "pw-secret" not in _shown(caught.value)
    engine.dispose()


def test_a_statement_the_database_rejects_in_a_transaction_is_script_rejected(
    engine: Engine,
) -> None:
    api.apply("CREATE TABLE kept (v INTEGER)", engine)
    rejected = pytest.raises(ScriptRejected, match="the database rejected a statement")
    with rejected as caught, api.transaction(engine) as conn:
        api.run_sql(conn, "INSERT INTO kept VALUES (1)")
        api.run_sql(conn, "INSERT INTO nosuch VALUES (1)")
    assert isinstance(caught.value, ValidationError)
    assert "nosuch" in str(caught.value)
    with api.transaction(engine) as conn:  # nothing of the transaction was kept
        assert api.run_sql(conn, "SELECT count(*) FROM kept").scalar() == 0


def test_a_refused_row_is_named_by_its_constraint_not_its_values(engine: Engine) -> None:
    api.apply("CREATE TABLE users (email VARCHAR(100) PRIMARY KEY)", engine)
    insert = text("INSERT INTO users VALUES (:email)")
    with api.transaction(engine) as conn:
        conn.execute(insert, {"email": SECRET})
    with pytest.raises(ScriptRejected) as caught, api.transaction(engine) as conn:
        conn.execute(insert, {"email": SECRET})
    assert "unique" in str(caught.value).lower()
    assert SECRET not in _shown(caught.value)


def test_a_violation_still_comes_through_as_itself(engine: Engine) -> None:
    api.apply(sla_script(), engine)
    with pytest.raises(AssertionViolation) as caught, api.transaction(engine) as conn:  # noqa: PT012 - the 2nd one fails
        api.run_sql(conn, "INSERT INTO customers VALUES (1, 'Acme')")
        api.run_sql(conn, "INSERT INTO tickets VALUES (1, 1, NULL, 'LOW', '2026-02-01')")
    assert caught.value.name == "ticket_requires_active_sla"


@pytest.mark.postgres
def test_a_serialization_failure_is_still_a_transient_error(pg_engine: Engine) -> None:
    api.apply("CREATE TABLE counter (n INTEGER); INSERT INTO counter VALUES (0)", pg_engine)
    repeatable = pg_engine.execution_options(isolation_level="REPEATABLE READ")
    with pytest.raises(TransientError, match="40001"), api.transaction(repeatable) as conn:  # noqa: PT012 - the race is inside
        api.run_sql(conn, "SELECT n FROM counter")  # the snapshot starts here
        with pg_engine.connect() as other:
            other.exec_driver_sql("UPDATE counter SET n = 1")
            other.commit()
        api.run_sql(conn, "UPDATE counter SET n = 2")


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda url: api.apply("SELECT 1", url), id="apply"),
        pytest.param(lambda url: api.apply_assertions_only("", url), id="apply_assertions_only"),
        pytest.param(lambda url: api.check(url), id="check"),
        pytest.param(lambda url: api.list_assertions(url), id="list"),
        pytest.param(lambda url: api.explain(url, "x"), id="explain"),
        pytest.param(lambda url: _in_transaction(url, "SELECT 1"), id="transaction"),
    ],
)
def test_a_url_where_an_engine_goes_is_refused_naming_the_argument(
    call: Callable[[Any], Any], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(ValidationError, match="'engine' must be a SQLAlchemy Engine") as caught:
        call(url)
    assert "create_sql_engine" in (caught.value.hint or "")
    assert not (tmp_path / "x.db").exists()


def test_a_connection_where_an_engine_goes_says_to_pass_its_engine(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn, pytest.raises(ValidationError) as caught:
        api.check(conn)  # type: ignore[arg-type]
    assert "connection.engine" in (caught.value.hint or "")


@pytest.mark.parametrize(("script", "kind"), [(None, "NoneType"), (b"SELECT 1", "bytes")])
def test_a_script_that_is_not_text_is_refused_naming_the_argument(
    sqlite_engine: Engine, script: object, kind: str
) -> None:
    for call in (
        lambda: api.apply(script, sqlite_engine),  # type: ignore[arg-type]
        lambda: api.apply_assertions_only(script, sqlite_engine),  # type: ignore[arg-type]
        lambda: api.compile(script, "sqlite"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValidationError, match=f"'sql_text' must be .* got {kind}"):
            call()

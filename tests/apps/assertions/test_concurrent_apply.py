"""Concurrent applies serialise instead of failing with an error that blames the SQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from skybridge.apps.assertions import api
from skybridge.apps.assertions.errors import ScriptRejected, database_error
from skybridge.core.errors import TransientError

from .conftest import schema_script

WRITERS = 8
ONE_RULE = (
    "CREATE ASSERTION IF NOT EXISTS no_orphan_ticket CHECK (NOT EXISTS (SELECT 1 FROM tickets t "
    "WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.customer_id = t.customer_id)))"
)


def _together(count: int, work: Callable[[], Any]) -> list[BaseException]:
    """Run ``work`` in ``count`` threads released at once; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            work()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_applies_on_a_fresh_database_all_succeed(engine: Engine) -> None:
    """Every apply creates the runtime tables and functions: they used to race on PostgreSQL."""
    errors = _together(WRITERS, lambda: api.apply("SELECT 1", engine))
    assert errors == []


def test_concurrent_assertion_applies_all_succeed(engine: Engine) -> None:
    api.apply(schema_script(), engine)
    errors = _together(WRITERS, lambda: api.apply_assertions_only(ONE_RULE, engine))
    assert errors == []
    assert [e.name for e in api.list_assertions(engine)] == ["no_orphan_ticket"]


class _Native(Exception):
    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("message", "sqlstate"),
    [
        ("tuple concurrently updated", "XX000"),
        ('duplicate key value violates unique constraint "pg_type_typname_nsp_index"', "23505"),
        ("database is locked", None),
        ("could not obtain lock on relation", "55P03"),
    ],
)
def test_races_and_busy_databases_are_retryable_not_blamed_on_the_sql(
    message: str, sqlstate: str | None
) -> None:
    wrapped = DBAPIError("SELECT 1", None, _Native(message, sqlstate))
    error = database_error(wrapped)
    assert isinstance(error, TransientError)
    assert "fix the SQL" not in str(error)
    assert error.http_status == 503


def test_a_refused_statement_is_still_blamed_on_the_sql() -> None:
    wrapped = DBAPIError("SELEC 1", None, _Native('syntax error at or near "SELEC"', "42601"))
    error = database_error(wrapped)
    assert isinstance(error, ScriptRejected)
    assert error.http_status == 400

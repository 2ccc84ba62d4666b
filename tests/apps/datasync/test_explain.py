"""The SQL shown for a table (``skybridge datasync explain``, ``GET /api/datasync/sql``) is
built once per table definition, dialect and credential."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from skybridge.apps.datasync import oracle
from skybridge.apps.datasync.config import ORDERS, ColumnType, TableSpec
from skybridge.apps.datasync.explain import statements_for


def test_a_burst_of_requests_builds_the_statements_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each of 40 worker threads building them at once (pure Python) kept the event loop,
    # and /healthz, from the GIL.
    credential = f"cred-{uuid.uuid4().hex}"  # statements nobody asked for yet
    builds: list[str] = []
    upsert_sql = oracle.upsert_sql

    def slow_upsert_sql(table: str, spec: TableSpec) -> str:
        builds.append(table)
        time.sleep(0.2)
        return upsert_sql(table, spec)

    monkeypatch.setattr(oracle, "upsert_sql", slow_upsert_sql)
    together = threading.Barrier(6)

    def request(_: int) -> dict[str, str]:
        together.wait()
        return statements_for("orders", ORDERS, "oracle", credential)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(request, range(6)))
    assert builds == ["orders"]
    assert all(answer == answers[0] for answer in answers)
    assert credential in answers[0]["copy_data"]


def test_another_definition_or_dialect_gets_its_own_statements() -> None:
    wider = ORDERS.model_copy(update={"columns": {**ORDERS.columns, "note": ColumnType.TEXT}})
    first = statements_for("orders", ORDERS, "postgresql", "cred")
    first["create"] = "changed by the caller"
    assert statements_for("orders", ORDERS, "postgresql", "cred")["create"].startswith("CREATE")
    assert "note" in statements_for("orders", wider, "postgresql", "cred")["create"]
    assert "note" not in statements_for("orders", ORDERS, "postgresql", "cred")["create"]
    assert statements_for("orders", ORDERS, "sqlite", "cred") != statements_for(
        "orders", ORDERS, "postgresql", "cred"
    )

"""Explaining an assertion of the catalog compiles it once per definition and dialect."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.analysis import Analysis
from skybridge.apps.assertions.model import Assertion

from .conftest import schema_script

RULE = """CREATE ASSERTION {name} CHECK (
  NOT EXISTS (SELECT 1 FROM tickets t JOIN engineers e ON e.engineer_id = t.assigned_to
              WHERE t.priority = 'CRITICAL' AND e.seniority <> 'SENIOR'))"""


def test_a_burst_of_explanations_compiles_the_assertion_once(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The dashboard page explains every assertion on each view: a burst of views each
    # compiling them again (pure Python) kept the event loop, and /healthz, from the GIL.
    name = f"burst_{uuid.uuid4().hex[:12]}"  # explained by nobody yet
    api.apply(schema_script() + ";\n" + RULE.format(name=name), sqlite_engine)
    compiled: list[str] = []
    analyse = api.analyse  # type: ignore[attr-defined]

    def slow_analyse(assertion: Assertion) -> Analysis:
        compiled.append(assertion.name)
        time.sleep(0.2)
        return analyse(assertion)

    monkeypatch.setattr(api, "analyse", slow_analyse)
    together = threading.Barrier(6)

    def view(_: int) -> dict[str, Any]:
        together.wait()
        return api.explain(sqlite_engine, name)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(view, range(6)))
    assert compiled == [name]
    assert all(answer == answers[0] for answer in answers)
    answers[0]["guards"].clear()  # each caller has a copy of its own
    assert api.explain(sqlite_engine, name)["guards"]

"""``/api/assertions`` and ``/ui/assertions`` through FastAPI's TestClient on a SQLite database."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from skybridge.apps.assertions import api
from skybridge.apps.assertions.manifest import APP
from skybridge.apps.assertions.page import LAST_CHECKS
from skybridge.apps.assertions.shared import DEMO_DIR, open_engine, seed_demo
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.backends.sql import create_sql_engine
from skybridge.core.config import Settings
from skybridge.server import create_app

from .conftest import assertions_script, schema_script, sla_script

BAD_TICKET = "INSERT INTO tickets VALUES (900, 2, NULL, 'LOW', '2026-01-05')"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return load_settings([APP])


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, apps=[APP])) as test_client:
        yield test_client


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    _, token = client.app.state.skybridge.tokens.create("tester", ["admin"])  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token.reveal()}"}


@pytest.fixture
def sla(client: TestClient, auth: dict[str, str]) -> dict[str, str]:
    """The SLA schema (made by the owner), its assertions applied over HTTP, two customers."""
    owner(client, schema_script())
    response = client.post("/api/assertions/apply", json={"sql": assertions_script()}, headers=auth)
    assert response.status_code == 200, response.text
    _write(client, "INSERT INTO customers VALUES (1, 'Acme'), (2, 'Globex')")
    return auth


def owner(client: TestClient, script: str) -> None:
    """Apply ``script`` as the database owner does: with the Python API, not over HTTP."""
    url = client.app.state.skybridge.settings.backends.sql  # type: ignore[attr-defined]
    engine = create_sql_engine(url)
    try:
        api.apply(script, engine)
    finally:
        engine.dispose()


def _db(client: TestClient) -> Path:
    url = client.app.state.skybridge.settings.backends.sql  # type: ignore[attr-defined]
    return Path(url.removeprefix("sqlite:///"))


def _write(client: TestClient, sql: str) -> None:
    conn = sqlite3.connect(_db(client))
    try:
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(sql)
        conn.commit()
    finally:
        conn.close()


def _violate(client: TestClient, auth: dict[str, str]) -> None:
    disable = {"sql": "ALTER ASSERTION ticket_requires_active_sla DISABLE"}
    assert client.post("/api/assertions/apply", json=disable, headers=auth).status_code == 200
    _write(client, BAD_TICKET)


def test_apply_reports_steps_and_the_catalog(client: TestClient, sla: dict[str, str]) -> None:
    listed = client.get("/api/assertions", headers=sla).json()
    assert [a["name"] for a in listed] == [
        "critical_tickets_need_senior_engineer",
        "sla_must_have_services",
        "ticket_requires_active_sla",
    ]


def test_get_one_has_definition_state_dependencies_and_lock_scope(
    client: TestClient, sla: dict[str, str]
) -> None:
    body = client.get("/api/assertions/sla_must_have_services", headers=sla).json()
    assert body["state"] == "DEFERRABLE INITIALLY DEFERRED ENABLE VALIDATE"
    assert body["deferrable"] is True
    assert body["initially_deferred"] is True
    assert "sla_services" in body["definition"]
    assert {"table": "sla_services", "column": "sla_id"} in body["dependencies"]
    assert body["tables"] == ["sla_services", "slas"]
    assert body["lock_scope"] == "key:sla_services.sla_id,slas.sla_id"


def test_unknown_assertion_is_404(client: TestClient, sla: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/api/assertions/nobody"),
        ("GET", "/api/assertions/nobody/explain"),
        ("POST", "/api/assertions/nobody/check"),
    ]:
        response = client.request(method, path, headers=sla)
        assert response.status_code == 404, path
        assert response.json()["message"] == "assertion nobody does not exist"


def test_check_all_and_one_return_violations(client: TestClient, sla: dict[str, str]) -> None:
    assert client.post("/api/assertions/check", headers=sla).json()["ok"] is True
    _violate(client, sla)
    report = client.post("/api/assertions/check", headers=sla).json()
    assert report["ok"] is False
    failing = [r for r in report["results"] if not r["ok"]]
    assert failing == [
        {
            "name": "ticket_requires_active_sla",
            "ok": False,
            "rows": [{"tickets.created_on": "2026-01-05", "tickets.customer_id": 2}],
        }
    ]
    one = client.post("/api/assertions/critical_tickets_need_senior_engineer/check", headers=sla)
    assert one.json() == {
        "ok": True,
        "results": [{"name": "critical_tickets_need_senior_engineer", "ok": True, "rows": []}],
    }


def test_explain_lists_guards_and_statements(client: TestClient, sla: dict[str, str]) -> None:
    body = client.get("/api/assertions/ticket_requires_active_sla/explain", headers=sla).json()
    guards = {(g["table"], g["operation"]) for g in body["guards"]}
    assert ("tickets", "INSERT") in guards
    assert ("slas", "DELETE") in guards
    assert ("slas", "INSERT") not in guards  # a new SLA cannot break the rule
    assert body["statements"]
    assert body["enabled"] is True


def test_apply_that_validates_bad_data_is_409_with_name_and_rows(
    client: TestClient, sla: dict[str, str]
) -> None:
    _violate(client, sla)
    enable = {"sql": "ALTER ASSERTION ticket_requires_active_sla ENABLE"}
    response = client.post("/api/assertions/apply", json=enable, headers=sla)
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "AssertionViolation"
    assert body["assertion"] == "ticket_requires_active_sla"
    assert body["rows"] == [{"tickets.created_on": "2026-01-05", "tickets.customer_id": 2}]
    still = client.get("/api/assertions/ticket_requires_active_sla", headers=sla).json()
    assert still["enabled"] is False  # nothing applied


@pytest.mark.parametrize(
    ("sql", "status", "message"),
    [
        ("CREATE TABLE (oops", 422, "accepts only CREATE, ALTER and DROP ASSERTION"),
        (
            "CREATE ASSERTION r CHECK (NOT EXISTS (SELECT 1 FROM nowhere))",
            400,
            "the database rejected a statement",
        ),
        ("ALTER ASSERTION nobody DISABLE", 404, "nobody does not exist"),
        (
            "CREATE ASSERTION r CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE random() > 0.5))",
            422,
            "nondeterministic",
        ),
        ("CREATE ASSERTION r CHECK (NOT EXISTS (SELECT FROM", 422, "cannot parse"),
    ],
)
def test_bad_scripts_answer_4xx_saying_what_to_fix(
    client: TestClient, sla: dict[str, str], sql: str, status: int, message: str
) -> None:
    response = client.post("/api/assertions/apply", json={"sql": sql}, headers=sla)
    assert response.status_code == status, response.text
    assert message in response.json()["message"]


def test_compile_needs_no_database(client: TestClient, auth: dict[str, str]) -> None:
    body = {"sql": sla_script(), "dialect": "sqlite"}
    response = client.post("/api/assertions/compile", json=body, headers=auth)
    assert response.status_code == 200
    assert response.json()["dialect"] == "sqlite"
    assert (
        "RAISE(ABORT, 'assertion \"ticket_requires_active_sla\" violated')"
        in (response.json()["sql"])
    )
    bad = client.post(
        "/api/assertions/compile", json={"sql": "SELECT 1", "dialect": "oracle"}, headers=auth
    )
    assert bad.status_code == 422
    assert "dialect" in bad.json()["message"]
    assert client.get("/api/assertions", headers=auth).json() == []  # nothing was applied


@pytest.mark.parametrize("endpoint", ["compile", "apply"])
def test_an_assertion_too_long_to_compile_in_time_is_refused_before_parsing(
    client: TestClient, auth: dict[str, str], endpoint: str
) -> None:
    terms = " OR ".join(f"ticket_id = {n}" for n in range(20_000))
    sql = f"\nCREATE ASSERTION wide CHECK (NOT EXISTS (SELECT 1 FROM tickets WHERE {terms}))"
    body = {"sql": sql, "dialect": "sqlite"} if endpoint == "compile" else {"sql": sql}
    began = time.perf_counter()
    response = client.post(f"/api/assertions/{endpoint}", json=body, headers=auth)
    assert time.perf_counter() - began < 5  # compiling it would take minutes
    assert response.status_code == 422
    message = response.json()["message"]
    assert "line 2" in message
    assert "the assertion is 80,014 tokens long; at most 5,000 are compiled" in message
    assert "split its condition into several assertions" in message
    assert client.get("/api/assertions", headers=auth).json() == []


@pytest.mark.parametrize("endpoint", ["compile", "apply"])
def test_an_assertion_joining_too_many_tables_is_refused_before_compiling(
    client: TestClient, auth: dict[str, str], endpoint: str
) -> None:
    # compiling costs time growing with the square of the tables: 440 self-joins, under the
    # token limit, ran for minutes
    froms = ", ".join(f"tickets t{n}" for n in range(33))
    joins = " AND ".join(f"t{n}.ticket_id = t{n + 1}.ticket_id" for n in range(32))
    sql = f"CREATE ASSERTION wide CHECK (NOT EXISTS (SELECT 1 FROM {froms} WHERE {joins}))"
    body = {"sql": sql, "dialect": "sqlite"} if endpoint == "compile" else {"sql": sql}
    began = time.perf_counter()
    response = client.post(f"/api/assertions/{endpoint}", json=body, headers=auth)
    assert time.perf_counter() - began < 5
    assert response.status_code == 422
    assert "the assertion reads 33 tables" in response.json()["message"]
    assert "at most 32 are compiled" in response.json()["message"]


@pytest.mark.parametrize("endpoint", ["compile", "apply"])
def test_the_largest_script_fits_the_body_limit_and_more_is_413(
    client: TestClient, auth: dict[str, str], endpoint: str
) -> None:
    # a script of the largest size the routes take: its JSON (escaped newlines and quotes)
    # is over the service's 1 MiB default body cap, which these routes raise for it
    line = '-- "padding"\n'
    sql = sla_script() + line * ((900_000 - len(sla_script())) // len(line))
    body = {"sql": sql, "dialect": "sqlite"} if endpoint == "compile" else {"sql": sql}
    encoded = json.dumps(body).encode()
    assert len(encoded) > 1024 * 1024
    headers = {**auth, "Content-Type": "application/json"}
    response = client.post(f"/api/assertions/{endpoint}", content=encoded, headers=headers)
    assert response.status_code != 413, response.text
    assert response.status_code < 500, response.text
    over = client.post(
        f"/api/assertions/{endpoint}", content=b" " * (4 * 1024 * 1024 + 1), headers=headers
    )
    assert over.status_code == 413
    assert "4 MiB" in over.json()["message"]
    assert "server.max_body_bytes" not in over.json()["message"]  # the route's own limit


@pytest.mark.parametrize("endpoint", ["compile", "apply"])
@pytest.mark.parametrize(
    "sql",
    [
        "CREATE ASSERTION a CHECK (" + "NOT " * 3000 + "1=1)",
        "CREATE ASSERTION a CHECK (NOT EXISTS (SELECT 1 FROM t WHERE "
        + "(" * 1000
        + "1=1"
        + ")" * 1000
        + "))",
    ],
)
def test_deeply_nested_statements_are_422_not_500(
    client: TestClient, auth: dict[str, str], endpoint: str, sql: str
) -> None:
    response = client.post(f"/api/assertions/{endpoint}", json={"sql": sql}, headers=auth)
    assert response.status_code == 422, response.text
    assert "nested too deeply" in response.json()["message"]


def test_routes_need_a_token(client: TestClient) -> None:
    assert client.get("/api/assertions").status_code == 401
    assert client.post("/api/assertions/apply", json={"sql": "SELECT 1"}).status_code == 401


def test_openapi_documents_the_error_responses(client: TestClient) -> None:
    paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    apply = paths["/api/assertions/apply"]["post"]["responses"]
    assert {"200", "400", "401", "404", "409", "422"} <= set(apply)
    assert apply["409"]["content"]["application/json"]["schema"]["$ref"].endswith("ViolationBody")
    assert "404" in paths["/api/assertions/{name}"]["get"]["responses"]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _login(client: TestClient) -> None:
    _, token = client.app.state.skybridge.tokens.create("viewer", ["admin"])  # type: ignore[attr-defined]
    form = client.get("/login")
    client.post("/login", data={"token": token.reveal(), "csrf": _csrf(form.text)})


def test_page_lists_assertions_and_check_now_shows_violations(
    client: TestClient, sla: dict[str, str]
) -> None:
    LAST_CHECKS.results.clear()
    _violate(client, sla)
    _login(client)
    page = client.get("/ui/assertions")
    assert page.status_code == 200
    assert 'href="/ui/assertions"' in page.text
    assert page.text.count('<tr class="') == 3
    assert "not checked yet" in page.text
    assert "key:engineers.engineer_id,tickets.assigned_to" in page.text
    assert "Guarded operations" not in page.text  # explain uses table headers instead
    assert "Checks run" in page.text
    checked = client.post("/ui/assertions", data={"csrf": _csrf(page.text), "action": "check"})
    assert checked.status_code == 200
    assert "1 of 3 checked assertions has violating rows" in checked.text
    assert "2026-01-05" in checked.text
    assert "1 violating" in client.get("/ui/assertions").text  # last check is remembered


def test_page_forms_need_the_csrf_token(client: TestClient, sla: dict[str, str]) -> None:
    _login(client)
    response = client.post("/ui/assertions", data={"csrf": "forged", "action": "check"})
    assert response.status_code == 403


def test_demo_seed_loads_its_data_after_the_example_was_applied_by_hand(
    settings: Settings,
) -> None:
    ctx = AppContext.create(APP, settings, demo=True)
    with open_engine(ctx.backend_url("sql")) as engine:
        for name in ("schema.sql", "assertions.sql"):
            api.apply((DEMO_DIR / name).read_text(), engine)
    seed_demo(ctx)
    seed_demo(ctx)  # the data once
    with open_engine(ctx.backend_url("sql")) as engine, engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tickets")).scalar_one() == 4
        report = api.check(engine)
    assert [r.name for r in report if not r.ok] == ["ticket_requires_active_sla"]


def test_demo_seed_is_idempotent_and_leaves_one_legacy_violation(settings: Settings) -> None:
    ctx = AppContext.create(APP, settings, demo=True)
    seed_demo(ctx)
    seed_demo(ctx)
    with TestClient(create_app(settings, apps=[APP])) as client:
        _, token = client.app.state.skybridge.tokens.create("t", ["admin"])  # type: ignore[attr-defined]
        auth = {"Authorization": f"Bearer {token.reveal()}"}
        listed = client.get("/api/assertions", headers=auth).json()
        assert len(listed) == 3
        legacy = next(a for a in listed if a["name"] == "ticket_requires_active_sla")
        assert (legacy["enabled"], legacy["validated"]) == (True, False)
        report = client.post("/api/assertions/check", headers=auth).json()
        failing = [r["name"] for r in report["results"] if not r["ok"]]
        assert failing == ["ticket_requires_active_sla"]


def test_a_catalog_of_a_newer_skybridge_is_refused_with_400(
    client: TestClient, sla: dict[str, str]
) -> None:
    url = client.app.state.skybridge.settings.backends.sql  # type: ignore[attr-defined]
    engine = create_sql_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "UPDATE skybridge_schema SET version = 5 WHERE component = 'assertions'"
            )
    finally:
        engine.dispose()
    for response in (
        client.get("/api/assertions", headers=sla),
        client.post("/api/assertions/check", headers=sla),
        client.post("/api/assertions/apply", json={"sql": assertions_script()}, headers=sla),
    ):
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "ConfigError"
        assert "holds assertions tables of a newer skybridge (schema version 5" in body["message"]
        assert "upgrade skybridge" in body["hint"]

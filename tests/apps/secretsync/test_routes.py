"""``/api/secretsync`` and ``/ui/secretsync`` through FastAPI's TestClient (local stores).

Every response the client receives (API, dashboard, ``/metrics``) is scanned for the canary
secret values.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from skybridge.apps.kit.background import Background
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.secretsync import manual_event
from skybridge.apps.secretsync.demo import seed_demo
from skybridge.apps.secretsync.manifest import APP
from skybridge.apps.secretsync.service import open_service
from skybridge.backends.secrets.local import LocalSecretStore
from skybridge.core.config import Settings
from skybridge.core.secret import Secret
from skybridge.server import create_app

from .conftest import local_table

CANARIES = ("CANARY-route-db-93e1", "CANARY-route-key-4ad7")
TABLE = local_table("route-test")


def _clean_env(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(folder)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    _clean_env(monkeypatch, tmp_path)
    (tmp_path / "secretsync.toml").write_text(TABLE)
    with LocalSecretStore(tmp_path / "src") as source:
        source.create("app/db", Secret(json.dumps({"password": CANARIES[0]})))
        source.create("app/key", Secret(CANARIES[1]))
    return load_settings([APP])


@pytest.fixture
def ctx(settings: Settings) -> AppContext[Any]:
    return AppContext.create(APP, settings)


class Scanned(TestClient):
    """A TestClient that fails the test when a response carries a canary value."""

    def request(self, *args: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        for canary in CANARIES:
            assert canary not in response.text, f"{args[:2]} leaked a secret value"
        return response


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with Scanned(create_app(settings, apps=[APP])) as test_client:
        yield test_client


@pytest.fixture
def auth(client: TestClient) -> dict[str, str]:
    _, token = client.app.state.skybridge.tokens.create("tester", ["admin"])  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token.reveal()}"}


def test_mappings_and_status(client: TestClient, auth: dict[str, str]) -> None:
    mappings = client.get("/api/secretsync/mappings", headers=auth).json()
    assert [m["name"] for m in mappings] == ["db", "key"]
    assert mappings[0]["source"] == "src:app/db"
    assert mappings[0]["fields"] == ["password"]
    status = client.get("/api/secretsync/status", headers=auth).json()
    assert [(s["name"], s["drift"], s["dead_letters"]) for s in status] == [
        ("db", "unknown", 0),
        ("key", "unknown", 0),
    ]
    second = client.get("/api/secretsync/status?limit=1&offset=1", headers=auth)
    assert [s["name"] for s in second.json()] == ["key"]
    assert second.headers["X-Total-Count"] == "2"
    first = client.get("/api/secretsync/status?limit=1", headers=auth)
    assert first.headers["Link"] == '</api/secretsync/status?limit=1&offset=1>; rel="next"'
    assert client.get("/api/secretsync/status?limit=0", headers=auth).status_code == 422


def reconciled(client: TestClient, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    """The report of a background reconcile run, once it succeeded."""
    started = client.post(
        "/api/secretsync/reconcile", json={"dry_run": False, **body}, headers=auth
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 10
    while (run := client.get(started.headers["Location"], headers=auth).json())[
        "status"
    ] == "running":
        assert time.monotonic() < deadline, "the reconcile run did not finish"
        time.sleep(0.02)
    assert run["status"] == "succeeded", run
    report: dict[str, Any] = run["report"]
    return report


def test_reconcile_plans_by_default_then_repairs(client: TestClient, auth: dict[str, str]) -> None:
    plan = client.post("/api/secretsync/reconcile", headers=auth).json()  # no body: a plan
    assert plan["dry_run"] is True
    assert plan["writes"] == 0
    assert [(a["mapping"], a["action"], a["drift"]) for a in plan["plan"]["actions"]] == [
        ("db", "create", "target-missing"),
        ("key", "create", "target-missing"),
    ]
    done = reconciled(client, auth)
    assert done["writes"] == 2
    again = client.post("/api/secretsync/reconcile", json={"mappings": ["key"]}, headers=auth)
    assert [a["action"] for a in again.json()["plan"]["actions"]] == ["noop"]
    full = client.post(
        "/api/secretsync/reconcile", json={"mappings": ["key"], "full": True}, headers=auth
    ).json()
    assert [a["action"] for a in full["plan"]["actions"]] == ["noop"]
    assert all(a["check"] for a in full["plan"]["actions"]), "each action says why it read"
    status = client.get("/api/secretsync/status", headers=auth).json()
    assert {s["drift"] for s in status} == {"in-sync"}
    assert all(s["last_source_version"] and s["synced_at"] for s in status)


def test_sync_named_or_all(client: TestClient, auth: dict[str, str]) -> None:
    one = client.post("/api/secretsync/sync", json={"mappings": ["db"]}, headers=auth).json()
    assert one["ok"] is True
    assert [(o["mapping"], o["action"]) for o in one["outcomes"]] == [("db", "created")]
    every = client.post("/api/secretsync/sync", json={"all": True}, headers=auth).json()
    assert [o["action"] for o in every["outcomes"]] == ["unchanged", "created"]


def test_a_failing_sync_is_reported_not_raised(
    client: TestClient, auth: dict[str, str], settings: Settings
) -> None:
    with LocalSecretStore(Path("src")) as source:
        source.put_value("app/db", Secret("not json " + CANARIES[0]))
    result = client.post("/api/secretsync/sync", json={"mappings": ["db"]}, headers=auth).json()
    assert result["ok"] is False
    assert result["outcomes"][0]["action"] == "failed"
    status = client.get("/api/secretsync/status", headers=auth).json()
    assert status[0]["drift"] == "error"
    assert "JSON" in status[0]["last_error"]


@pytest.mark.parametrize(
    ("method", "path", "body", "code", "words"),
    [
        ("post", "/api/secretsync/sync", {"mappings": ["nope"]}, 404, "no mapping called nope"),
        ("post", "/api/secretsync/sync", {}, 422, "one of them"),
        ("post", "/api/secretsync/sync", {"mappings": "db"}, 422, "mappings"),
        ("post", "/api/secretsync/reconcile", {"mappings": ["nope"]}, 404, "nope"),
        ("post", "/api/secretsync/reconcile", {"dry_run": "maybe"}, 422, "dry_run"),
        ("post", "/api/secretsync/dlq/replay", {}, 422, "one of them"),
        ("post", "/api/secretsync/dlq/replay", {"ids": ["0123456789abcdef0123"]}, 404, "not found"),
        ("post", "/api/secretsync/dlq/replay", {"ids": ["0:7"]}, 404, "not found"),
        ("get", "/api/secretsync/audit?mapping=nope", None, 404, "nope"),
        ("get", "/api/secretsync/audit?limit=0", None, 422, "limit"),
    ],
)
def test_bad_input_answers_4xx_saying_what_to_fix(
    client: TestClient,
    auth: dict[str, str],
    method: str,
    path: str,
    body: Any,
    code: int,
    words: str,
) -> None:
    response = client.request(method, path, json=body, headers=auth)
    assert response.status_code == code, response.text
    assert words in response.text


@pytest.mark.parametrize("path", ["/api/secretsync/sync", "/api/secretsync/reconcile"])
def test_a_name_holding_a_lone_surrogate_is_answered_404_not_500(
    client: TestClient, auth: dict[str, str], path: str
) -> None:
    """JSON may escape a lone surrogate; repeating it in the answer failed to encode (500)."""
    body = b'{"mappings": ["a\\ud800b"]}'
    headers = {**auth, "content-type": "application/json"}
    response = client.post(path, content=body, headers=headers)
    assert response.status_code == 404, response.text
    assert response.json()["message"].startswith("no mapping called a\ud800b")


def test_dead_letters_list_and_replay(
    client: TestClient, auth: dict[str, str], ctx: AppContext[Any]
) -> None:
    with LocalSecretStore(Path("src")) as source:
        version = source.put_value("app/db", Secret("not json " + CANARIES[0])).version_id
    with open_service(ctx) as svc:
        [outcome] = svc.engine.sync_event(manual_event("app/db", version))
        assert outcome.action == "dead-lettered"
    [letter] = client.get("/api/secretsync/dlq", headers=auth).json()
    assert (letter["store"], letter["mapping"], letter["secret"]) == ("stream", "db", "app/db")
    assert "event" not in letter
    assert client.get("/api/secretsync/status", headers=auth).json()[0]["dead_letters"] == 1
    again = client.post("/api/secretsync/dlq/replay", json={"ids": [letter["id"]]}, headers=auth)
    assert again.json()[0]["ok"] is False
    with LocalSecretStore(Path("src")) as source:
        source.put_value("app/db", Secret(json.dumps({"password": CANARIES[0]})))
    fixed = client.post("/api/secretsync/dlq/replay", json={"all": True}, headers=auth).json()
    assert [(r["ok"], r["outcomes"][0]["action"]) for r in fixed] == [(True, "created")]
    assert client.get("/api/secretsync/dlq", headers=auth).json() == []


def test_audit_has_no_hashes_and_filters(client: TestClient, auth: dict[str, str]) -> None:
    client.post("/api/secretsync/sync", json={"all": True}, headers=auth)
    records = client.get("/api/secretsync/audit", headers=auth).json()
    assert sorted(r["mapping"] for r in records) == ["db", "key"]
    assert all("sha256" not in json.dumps(r) for r in records)
    only = client.get("/api/secretsync/audit?mapping=key&limit=1", headers=auth).json()
    assert [(r["mapping"], r["action"]) for r in only] == [("key", "created")]


def test_metrics_label_mappings_only(client: TestClient, auth: dict[str, str]) -> None:
    reconciled(client, auth)
    client.post("/api/secretsync/sync", json={"all": True}, headers=auth)
    status = client.get("/api/secretsync/status", headers=auth).json()
    text = client.get("/metrics").text
    assert 'skybridge_secretsync_syncs_total{mapping="key",outcome="unchanged"}' in text
    assert 'skybridge_secretsync_reconcile_actions_total{action="create",mapping="db"}' in text
    assert 'skybridge_secretsync_sync_lag_seconds_count{mapping="db"}' in text
    for row in status:
        assert row["last_source_version"] not in text
    assert "app/db" not in text
    assert "app-db" not in text


def test_without_a_table_the_routes_answer_503_with_a_hint(
    client: TestClient, auth: dict[str, str]
) -> None:
    Path("secretsync.toml").unlink()
    response = client.get("/api/secretsync/status", headers=auth)
    assert response.status_code == 503
    assert "SKYBRIDGE__SECRETSYNC__MAPPINGS" in response.json()["hint"]


def test_routes_need_a_token(client: TestClient) -> None:
    assert client.get("/api/secretsync/status").status_code == 401
    assert client.post("/api/secretsync/sync", json={"all": True}).status_code == 401


def test_openapi_documents_the_error_responses(client: TestClient) -> None:
    paths: dict[str, Any] = client.get("/openapi.json").json()["paths"]
    sync = paths["/api/secretsync/sync"]["post"]["responses"]
    assert {"200", "401", "404", "422", "503"} <= set(sync)
    assert "404" in paths["/api/secretsync/dlq/replay"]["post"]["responses"]
    assert "503" in paths["/api/secretsync/status"]["get"]["responses"]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match
    return match.group(1)


def _login(client: TestClient) -> None:
    _, token = client.app.state.skybridge.tokens.create("viewer", ["admin"])  # type: ignore[attr-defined]
    form = client.get("/login")
    client.post("/login", data={"token": token.reveal(), "csrf": _csrf(form.text)})


def test_a_fresh_install_without_a_table_shows_an_empty_state_not_an_error(
    settings: Settings, tmp_path: Path
) -> None:
    """With no mapping table the page opened on a red error alert."""
    (tmp_path / "secretsync.toml").unlink()
    with Scanned(create_app(settings, apps=[APP])) as fresh:
        _login(fresh)
        page = fresh.get("/ui/secretsync")
    assert page.status_code == 200
    assert "alert-error" not in page.text
    assert "No mapping table yet: nothing is synced." in page.text
    assert "secretsync.toml" in page.text


def test_page_shows_state_and_runs_the_actions(client: TestClient) -> None:
    _login(client)
    page = client.get("/ui/secretsync")
    assert page.status_code == 200
    assert 'href="/ui/secretsync"' in page.text
    assert page.text.count("<tr data-name=") == 2
    assert "Replay dead letters" not in page.text  # no letters yet
    plan = client.post("/ui/secretsync", data={"csrf": _csrf(page.text), "action": "plan"})
    assert "2 mappings would be written. Nothing was changed." in plan.text
    done = client.post("/ui/secretsync", data={"csrf": _csrf(page.text), "action": "reconcile"})
    assert "Reconciled: 2 writes." in done.text
    after = client.get("/ui/secretsync").text
    assert after.count('pill pill-ok">in-sync') == 2
    assert "reconcile:create" in after  # the audit section
    clean = client.post("/ui/secretsync", data={"csrf": _csrf(after), "action": "plan"})
    assert "Everything is in sync: nothing to write." in clean.text
    bogus = client.post("/ui/secretsync", data={"csrf": _csrf(after), "action": "drop"})
    assert "unknown action" in bogus.text
    forged = client.post("/ui/secretsync", data={"csrf": "forged", "action": "reconcile"})
    assert forged.status_code == 403


def test_demo_seeds_a_live_local_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch, tmp_path)
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__DEMO_ROTATE_EVERY", "0.2")
    settings = load_settings([APP], data_dir=tmp_path / "demo")
    ctx = AppContext.create(APP, settings, demo=True)
    seed_demo(ctx)
    seed_demo(ctx)  # idempotent
    with open_service(ctx) as svc:
        assert {r.drift for r in svc.engine.status()} == {"in-sync"}
        assert len(svc.engine.audit_log()) == 3
    target = LocalSecretStore(tmp_path / "demo" / "target-secrets")
    db = json.loads(str(target.get_value("orders-db").value.reveal()))
    assert set(db) == {"username", "db_password"}
    live = Background([APP], settings, demo=True)
    assert {p.label for p in live.parts} == {
        "secretsync.events",
        "secretsync.jobs",
        "secretsync.rotate",
    }
    live.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with open_service(ctx) as svc:
                if len(svc.engine.audit_log()) >= 5:
                    break
            time.sleep(0.2)
    finally:
        live.stop()
    assert {p["state"] for p in live.status()} == {"stopped"}
    with open_service(ctx) as svc:
        updates = [r for r in svc.engine.audit_log() if r.action == "updated"]
        assert len(updates) >= 2
        assert all(r.reason == "event:manual" for r in updates)
    target.close()

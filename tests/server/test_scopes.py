"""Scoped tokens: roles and scopes on every route and page action, tokens in the service's own
database, old tokens moved there as admin."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from typer.testing import CliRunner

from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.settings import load_settings
from skybridge.core.errors import ConfigError
from skybridge.server import create_app
from skybridge.testing.service import ServiceHarness, csrf_of, service_harness


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    with service_harness() as harness:
        yield harness


@pytest.mark.parametrize(
    ("grant", "allowed", "refused"),
    [
        (
            ["read"],
            [("GET", "/api/whoami"), ("GET", "/api/assertions"), ("GET", "/api/backends")],
            [("GET", "/api/tokens"), ("POST", "/api/assertions/check"), ("POST", "/api/tokens")],
        ),
        (
            ["operate"],
            [("POST", "/api/assertions/check"), ("GET", "/api/assertions")],
            [("POST", "/api/assertions/apply"), ("GET", "/api/tokens")],
        ),
        (
            ["assertions:apply"],
            [("POST", "/api/assertions/apply")],
            [("GET", "/api/assertions"), ("GET", "/api/whoami")],
        ),
    ],
)
def test_each_route_answers_only_the_scopes_it_declares(
    service: ServiceHarness, grant: list[str], allowed: list[Any], refused: list[Any]
) -> None:
    token = service.new_token("someone", scopes=grant)
    body = {"sql": "CREATE TABLE t (x INTEGER)", "name": "made-by-someone"}
    for method, path in allowed:
        response = service.client.request(method, path, headers=bearer(token), json=body)
        assert response.status_code != 403, f"{grant}: {method} {path}: {response.text}"
        assert response.status_code < 500, f"{grant}: {method} {path}: {response.text}"
    for method, path in refused:
        response = service.client.request(method, path, headers=bearer(token), json=body)
        assert response.status_code == 403, f"{grant}: {method} {path}: {response.status_code}"
        assert "scope" in response.json()["message"]


def test_a_token_grants_only_what_it_holds(service: ServiceHarness) -> None:
    manager = service.new_token("manager", scopes=["tokens:manage", "read"])
    asked = {"name": "escalated", "scopes": ["admin"]}
    refused = service.client.post("/api/tokens", json=asked, headers=bearer(manager))
    assert refused.status_code == 403
    assert "cannot grant 'admin'" in refused.json()["message"]
    blank = {"name": "blank", "scopes": ["read", " "]}
    refused = service.client.post("/api/tokens", json=blank, headers=bearer(manager))
    assert refused.status_code == 422
    assert "a role or scope is blank" in refused.json()["message"]
    fine = service.client.post(
        "/api/tokens", json={"name": "reader", "scopes": ["read"]}, headers=bearer(manager)
    )
    assert fine.status_code == 201
    assert fine.json()["scopes"] == ["read"]
    unknown = service.client.post(
        "/api/tokens", json={"name": "odd", "scopes": ["root"]}, headers=service.auth
    )
    assert unknown.status_code == 422
    assert "unknown role or scope 'root'" in unknown.json()["message"]


def test_a_token_revokes_only_tokens_that_hold_no_more_than_it(service: ServiceHarness) -> None:
    manager = service.new_token("manager", scopes=["tokens:manage", "read"])
    service.new_token("boss", scopes=["admin"])
    reader = service.new_token("reader", scopes=["read"])
    refused = service.client.delete("/api/tokens/boss", headers=bearer(manager))
    assert refused.status_code == 403
    assert "cannot revoke 'boss': it holds 'admin'" in refused.json()["message"]
    assert service.client.get("/api/whoami", headers=bearer(service.token)).status_code == 200
    names = {t["name"]: t for t in service.client.get("/api/tokens", headers=service.auth).json()}
    assert names["boss"]["revoked_at"] is None
    assert service.client.delete("/api/tokens/reader", headers=bearer(manager)).status_code == 200
    assert service.client.get("/api/whoami", headers=bearer(reader)).status_code == 401

    csrf = service.login(manager)
    page = service.client.post("/tokens/boss/revoke", data={"csrf": csrf, "confirmed": "yes"})
    assert page.status_code == 400
    assert "cannot revoke &#39;boss&#39;: it holds &#39;admin&#39;" in page.text
    names = {t["name"]: t for t in service.client.get("/api/tokens", headers=service.auth).json()}
    assert names["boss"]["revoked_at"] is None


def test_whoami_lists_what_the_token_may_do(service: ServiceHarness) -> None:
    token = service.new_token("op", scopes=["operate"])
    body = service.client.get("/api/whoami", headers=bearer(token)).json()
    assert body["grant"] == ["operate"]
    assert "secretsync:reconcile" in body["scopes"]
    assert "assertions:apply" not in body["scopes"]
    assert "tokens:manage" not in body["scopes"]


def test_the_openapi_schema_names_every_routes_scope(service: ServiceHarness) -> None:
    paths = service.client.get("/openapi.json").json()["paths"]
    api = {(m, p): op for p, ops in paths.items() if p.startswith("/api") for m, op in ops.items()}
    assert api
    assert all("x-required-scope" in op for op in api.values())
    assert api[("post", "/api/assertions/apply")]["x-required-scope"] == "assertions:apply"


def test_the_dashboard_hides_and_refuses_what_a_session_may_not_do(
    service: ServiceHarness,
) -> None:
    reader = service.new_token("viewer", scopes=["read"])
    service.login(reader)
    home = service.client.get("/").text
    assert 'href="/tokens"' not in home
    assert 'href="/ui/secretsync"' in home
    assert service.client.get("/tokens").status_code == 403
    page = service.client.get("/ui/secretsync").text
    assert 'value="reconcile"' not in page
    csrf = csrf_of(page)
    forged = service.client.post("/ui/secretsync", data={"csrf": csrf, "action": "reconcile"})
    assert forged.status_code == 403
    unknown = service.client.post("/ui/secretsync", data={"csrf": csrf, "action": "drop"})
    assert unknown.status_code == 400
    made = service.client.post("/tokens", data={"csrf": csrf, "name": "x", "role": "admin"})
    assert made.status_code == 403


def test_a_session_of_a_single_scope_gets_a_page_not_json_where_it_may_not_go(
    service: ServiceHarness,
) -> None:
    """A token holding only secretsync:read signed in to `/` and read a raw JSON 403, under
    Overview and Backends links that led to the same."""
    narrow = service.new_token("narrow", scopes=["secretsync:read"])
    service.login(narrow)
    home = service.client.get("/")
    assert home.status_code == 403
    assert home.headers["content-type"].startswith("text/html")
    assert "Not allowed" in home.text
    assert 'href="/ui/secretsync"' in home.text  # what it may open
    assert 'href="/backends"' not in home.text
    assert 'href="/"' not in home.text.replace('class="brand" href="/"', "")
    assert service.client.get("/tokens").headers["content-type"].startswith("text/html")
    assert service.client.get("/ui/secretsync").status_code == 200
    api = service.client.get("/api/backends", headers=bearer(narrow))
    assert api.status_code == 403
    assert api.json()["error"] == "PermissionDenied"


def test_an_app_route_without_a_scope_is_refused_at_start(skybridge_workdir: Path) -> None:
    def router(_ctx: Any) -> APIRouter:
        routes = APIRouter()

        @routes.get("/open")
        def open_route() -> dict[str, str]:
            return {}

        return routes

    spec = AppSpec(name="careless", title="C", description="d", router=router)
    with pytest.raises(ConfigError, match="declares 0 scopes"):
        create_app(load_settings([spec]), apps=[spec])


def legacy_token(database: Path, name: str, value: str, scopes: str | None = None) -> None:
    """A token in the table an earlier version kept in ``backends.sql`` (with a ``scopes``
    column when ``scopes`` is given, as versions that had scopes made it)."""
    from skybridge.auth.tokens import hash_token

    extra = ", scopes VARCHAR(2000)" if scopes is not None else ""
    with sqlite3.connect(database) as conn:
        conn.execute(
            "CREATE TABLE skybridge_api_tokens (id INTEGER PRIMARY KEY, name VARCHAR(64), "
            "prefix VARCHAR(16), hash VARCHAR(64), created_at DATETIME, last_used_at DATETIME, "
            f"revoked_at DATETIME{extra})"
        )
        values = "?, ?, 'sbk_old', ?, '2026-01-01 00:00:00', NULL, NULL"
        row: tuple[object, ...] = (1, name, hash_token(value))
        if scopes is not None:
            values, row = values + ", ?", (*row, scopes)
        conn.execute(f"INSERT INTO skybridge_api_tokens VALUES ({values})", row)


def test_tokens_live_apart_from_the_sql_users_reach_and_old_ones_move_as_admin(
    skybridge_workdir: Path, log_output: Any
) -> None:
    legacy = skybridge_workdir / ".skybridge" / "skybridge.db"
    legacy.parent.mkdir()
    legacy_token(legacy, "old", "sbk_from-an-earlier-version")  # from before scopes
    with service_harness() as service:
        whoami = service.client.get("/api/whoami", headers=bearer("sbk_from-an-earlier-version"))
        assert whoami.json()["grant"] == ["admin"]
    with sqlite3.connect(legacy) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "skybridge_api_tokens" not in tables  # user SQL on backends.sql cannot see tokens

    events = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert any(e["event"] == "tokens.moved" and e["count"] == 1 for e in events)


def test_the_cli_creates_scoped_tokens_and_refuses_unknown_ones(skybridge_workdir: Path) -> None:
    from skybridge.cli import build_cli

    runner = CliRunner()
    made = runner.invoke(build_cli(), ["token", "create", "ops", "--scope", "operate", "--json"])
    assert made.exit_code == 0, made.output
    assert json.loads(made.stdout)["scopes"] == ["operate"]
    plain = runner.invoke(build_cli(), ["token", "create", "plain", "--json"])
    assert json.loads(plain.stdout)["scopes"] == ["read"]
    bad = runner.invoke(build_cli(), ["token", "create", "x", "--scope", "superuser"])
    assert bad.exit_code == 2
    assert "unknown role or scope 'superuser'" in bad.stderr
    assert "roles: read, operate, admin" in bad.stderr


def test_where_backends_keep_their_files_is_shown_to_admins_only(
    skybridge_workdir: Path,
) -> None:
    home = skybridge_workdir / "state"
    with service_harness(data_dir=home) as service:
        reader = service.new_token("viewer", scopes=["read"])
        seen = service.client.get("/api/backends", headers=bearer(reader)).json()
        urls = {b["name"]: b["url"] for b in seen}
        assert urls["kv"] == "sqlite:///<data_dir>/kv.db"
        assert urls["objects"] == "file://<data_dir>/objects"
        assert all(b["ok"] for b in seen)
        assert str(skybridge_workdir) not in json.dumps(seen)
        service.login(reader)
        for page in ("/", "/backends"):
            html = service.client.get(page).text
            assert "&lt;data_dir&gt;/kv.db" in html
            assert str(skybridge_workdir) not in html

        admin = service.client.get("/api/backends", headers=service.auth).json()
        assert {b["name"]: b["url"] for b in admin}["kv"] == f"sqlite:///{home}/kv.db"
        assert (
            "service:locations"
            not in service.client.get("/api/whoami", headers=bearer(reader)).json()["scopes"]
        )


def test_paths_outside_the_data_dir_keep_only_their_file_name() -> None:
    from skybridge.server.health import BackendStatus, without_locations

    shown = without_locations(
        [
            BackendStatus("kv", "backends.kv", "sqlite", "sqlite:////srv/x/kv.db?a=1", "ok"),
            BackendStatus(
                "objects",
                "backends.objects",
                "file",
                "file:///srv/objects",
                "unreachable",
                message="cannot open '/srv/objects/a': no such file",
                hint="see https://h/a/b",
            ),
            BackendStatus("cache", "backends.kv", "redis", "redis://h:6379/0", "ok"),
        ],
        Path("/home/u/.skybridge"),
    )
    assert [s.url for s in shown] == [
        "sqlite:////.../kv.db?a=1",
        "file:///.../objects",
        "redis://h:6379/0",
    ]
    assert shown[1].message == "cannot open '/.../a': no such file"
    assert shown[1].hint == "see https://h/a/b"


def test_the_tokens_page_shows_active_tokens_and_the_newest_revoked_ones(
    service: ServiceHarness,
) -> None:
    from skybridge.server.dashboard import REVOKED_SHOWN

    store = service.client.app.state.skybridge.tokens  # type: ignore[attr-defined]
    for n in range(REVOKED_SHOWN + 5):
        store.create(f"old-{n:03d}", ["read"])
        store.revoke(f"old-{n:03d}")
    service.new_token("still-used", scopes=["read"])
    service.login()
    html = service.client.get("/tokens").text
    assert "still-used" in html
    assert f"old-{REVOKED_SHOWN + 4:03d}" in html  # the newest revoked
    assert "old-004" not in html  # the oldest revoked ones
    assert html.count('class="revoked"') == REVOKED_SHOWN
    assert "5 older revoked tokens not shown" in html


def test_a_moved_token_whose_name_was_taken_since_is_kept_under_another_name(
    skybridge_workdir: Path, log_output: Any
) -> None:
    """After a downgrade and an upgrade both databases can hold a token of one name: the
    moved one is kept (renamed), not dropped with the old table."""
    with service_harness() as service:
        service.new_token("ci", scopes=["read"])  # the name, taken in service.db
    legacy = skybridge_workdir / ".skybridge" / "skybridge.db"
    legacy_token(legacy, "ci", "sbk_made-by-the-older-version", scopes="operate")
    with service_harness() as service:
        whoami = service.client.get("/api/whoami", headers=bearer("sbk_made-by-the-older-version"))
        assert whoami.status_code == 200
        assert whoami.json()["name"] == "ci-moved"
        assert whoami.json()["grant"] == ["operate"]
        names = {t["name"] for t in service.client.get("/api/tokens", headers=service.auth).json()}
        assert {"ci", "ci-moved"} <= names
    events = [json.loads(line) for line in log_output.getvalue().splitlines()]
    assert any(e["event"] == "tokens.moved" and e["renamed"] == ["ci -> ci-moved"] for e in events)


def test_an_unreachable_users_database_keeps_neither_the_service_nor_the_token_cli_from_starting(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looking for tokens an earlier version kept in backends.sql raised the driver's error:
    `skybridge token list` and the service's start failed while the users' database was down,
    although tokens live in server.database."""
    from skybridge.cli import build_cli

    down = "postgresql://skybridge:pw@127.0.0.1:1/nowhere?connect_timeout=2"
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__SQL", down)
    listed = CliRunner().invoke(build_cli(), ["token", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout) == []
    assert "tokens.legacy_check_skipped" in listed.stderr
    assert ":pw@" not in listed.stderr
    with service_harness() as service:
        assert service.client.get("/api/whoami", headers=service.auth).status_code == 200

"""/api/backends on real embedded backends, metrics, and what the logs never contain."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import typer
from fastapi import APIRouter
from fastapi.testclient import TestClient

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.manifest import AppSpec
from skybridge.core.config import Settings, load_settings
from skybridge.server import create_app, health
from skybridge.server.health import probe_all

DEFAULT_BACKENDS = {
    "kv": ("sqlite", "sqlite:///.skybridge/kv.db"),
    "objects": ("file", "file://.skybridge/objects"),
    "secrets": ("local", "local://.skybridge/secrets"),
    "notify": ("console", "console://"),
    "sql": ("sqlite", "sqlite:///.skybridge/skybridge.db"),
    "streams": ("sqlite", "sqlite:///.skybridge/streams.db"),
}


def test_backends_lists_each_default_backend_healthy(
    client: TestClient, auth: dict[str, str]
) -> None:
    response = client.get("/api/backends", headers=auth)
    assert response.status_code == 200
    found = {b["name"]: b for b in response.json()}
    assert set(found) == set(DEFAULT_BACKENDS)
    for name, (scheme, url) in DEFAULT_BACKENDS.items():
        backend = found[name]
        assert (backend["scheme"], backend["url"], backend["setting"]) == (
            scheme,
            url,
            f"backends.{name}",
        )
        assert backend["ok"] is True, backend
        assert backend["status"] == "ok"
        assert backend["latency_ms"] >= 0


def test_unreachable_and_misconfigured_backends_are_reported_masked(
    workdir: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__KV", "redis://:hunter22pw@127.0.0.1:1/0")
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__OBJECTS", "nosuch://x")
    found = {s.name: s for s in probe_all(load_settings(), timeout=20)}
    kv, objects = found["kv"], found["objects"]
    assert kv.status == "unreachable"
    assert kv.url == "redis://:***@127.0.0.1:1/0"
    assert "hunter22pw" not in json.dumps(kv.as_dict())
    assert objects.status == "misconfigured"
    assert objects.setting == "backends.objects"
    assert "nosuch" in (objects.message or "")
    assert found["sql"].ok


def test_unknown_backend_family_is_misconfigured(
    workdir: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__TELEPORT", "beam://x")
    found = {s.name: s for s in probe_all(load_settings())}
    assert found["teleport"].status == "misconfigured"
    assert "no backend family called 'teleport'" in (found["teleport"].message or "")


def test_metrics_count_requests_by_route_template(client: TestClient, auth: dict[str, str]) -> None:
    client.get("/api/whoami", headers=auth)
    client.delete("/api/tokens/someone-unknown", headers=auth)
    text = client.get("/metrics").text
    assert 'skybridge_http_requests_total{method="GET",route="/api/whoami",status="200"}' in text
    assert (
        'skybridge_http_requests_total{method="DELETE",route="/api/tokens/{name}",status="404"}'
        in text
    )
    assert "someone-unknown" not in text
    assert (
        'skybridge_http_request_seconds_bucket{le="0.005",method="GET",route="/api/whoami"}' in text
    )
    assert "process_resident_memory_bytes" in text
    assert "skybridge_backend_calls_total" in text or "skybridge_backend_calls" in text


def test_unknown_methods_share_one_metric_label(client: TestClient) -> None:
    for i in range(20):
        client.request(f"JUNK{i:02d}", "/healthz")
    client.request("OPTIONS", "/healthz")
    text = client.get("/metrics").text
    assert "JUNK" not in text
    assert 'method="OTHER",route="/healthz",status="405"' in text
    assert 'method="OPTIONS",route="/healthz"' in text
    methods = {
        line.split('method="')[1].split('"')[0] for line in text.splitlines() if 'method="' in line
    }
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}


def test_token_never_appears_in_logs_or_later_responses(
    settings: object,
    log_output: io.StringIO,
    login: Callable[[TestClient, str], str],
) -> None:
    app = create_app(load_settings(), apps=[])
    with TestClient(app) as client:
        _, first = app.state.skybridge.tokens.create("first", ["admin"])
        auth = {"Authorization": f"Bearer {first.reveal()}"}
        created = client.post("/api/tokens", headers=auth, json={"name": "second"})
        second = created.json()["token"]
        auth2 = {"Authorization": f"Bearer {second}"}
        later = [
            client.get("/api/whoami", headers=auth2),
            client.get("/api/tokens", headers=auth2),
            client.get("/api/backends", headers=auth2),
            client.delete("/api/tokens/first", headers=auth2),
            client.get("/api/whoami", headers=auth),
        ]
        login(client, second)
        later += [client.get(path) for path in ("/", "/tokens", "/backends")]
    logged = log_output.getvalue()
    lines = [json.loads(line) for line in logged.splitlines()]
    assert any(line["event"] == "http.request" for line in lines)
    assert any(line["event"] == "dashboard.login" for line in lines)
    for secret in (first.reveal(), second):
        assert secret not in logged
        for response in later:
            assert secret not in response.text
    assert "Bearer" not in logged
    assert "skybridge_session" not in logged
    assert not any(
        "authorization" in key.lower() or "cookie" in key.lower() for line in lines for key in line
    )


def _app_with_routes(name: str) -> AppSpec:
    def router(context: object) -> APIRouter:
        routes = APIRouter(dependencies=[requires(f"{name}:use")])

        @routes.get("/status")
        def status() -> dict[str, str]:
            return {"app": name}

        @routes.get("/items/{item}")
        def item(item: str) -> dict[str, str]:
            return {"item": item}

        return routes

    return AppSpec(
        name=name,
        title=name,
        description="Routes for the metrics test.",
        router=router,
        cli=typer.Typer(),
        scopes={f"{name}:use": "read"},
    )


def test_app_routes_are_counted_under_their_full_template(settings: Settings) -> None:
    # Two apps with the same route: each is its own series, /api/<app> included, also for a
    # request refused before routing (no token); the per-app charts read these labels.
    app = create_app(settings, apps=[_app_with_routes("alpha"), _app_with_routes("beta")])
    _, token = app.state.skybridge.tokens.create("metrics", ["admin"])
    auth = {"Authorization": f"Bearer {token.reveal()}"}
    with TestClient(app) as client:
        assert client.get("/api/alpha/status", headers=auth).json() == {"app": "alpha"}
        client.get("/api/beta/status", headers=auth).raise_for_status()
        client.get("/api/alpha/items/item-4711", headers=auth).raise_for_status()
        assert client.get("/api/beta/items/x").status_code == 401
        text = client.get("/metrics").text
    series = 'skybridge_http_requests_total{method="GET",route="%s",status="%s"}'
    assert series % ("/api/alpha/status", 200) in text
    assert series % ("/api/beta/status", 200) in text
    assert series % ("/api/alpha/items/{item}", 200) in text
    assert series % ("/api/beta/items/{item}", 401) in text
    assert 'route="/status"' not in text
    assert "item-4711" not in text


def test_a_burst_of_backend_views_makes_one_round_of_probes(
    client: TestClient, auth: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[str] = []
    real = health.probe

    def slow_probe(name: str, url: str, **options: Any) -> health.BackendStatus:
        probed.append(name)
        time.sleep(0.3)  # a backend slow to answer: the burst arrives while it is probed
        return real(name, url, **options)

    monkeypatch.setattr(health, "probe", slow_probe)
    start = threading.Barrier(8)

    def view(_: int) -> int:
        start.wait()
        return client.get("/api/backends", headers=auth).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(view, range(8))) == [200] * 8
    assert sorted(probed) == sorted(DEFAULT_BACKENDS)  # one round for eight requests
    assert client.get("/api/backends", headers=auth).status_code == 200
    assert len(probed) == 2 * len(DEFAULT_BACKENDS)  # a later view probes again: nothing kept

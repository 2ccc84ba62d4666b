"""Security headers on every response, HSTS over HTTPS, and /docs from local assets."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import typer
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.manifest import AppSpec, discover_apps
from skybridge.core.config import Settings
from skybridge.server import create_app
from skybridge.server.docs import DOCS_CSP, install_docs

NOSNIFF = "nosniff"


def _crashing_router(context: object) -> APIRouter:
    router = APIRouter(dependencies=[requires("crash:read")])

    @router.get("/crash")
    def crash() -> None:
        raise RuntimeError("boom")

    return router


CRASH = AppSpec(
    name="crash",
    title="Crash",
    description="Fails.",
    router=_crashing_router,
    cli=typer.Typer(),
    scopes={"crash:read": "read"},
)


@pytest.fixture
def https_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, apps=[CRASH])
    with TestClient(app, base_url="https://testserver", raise_server_exceptions=False) as client:
        yield client


def _assert_secure(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["x-content-type-options"] == NOSNIFF
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]


@pytest.mark.parametrize(
    "path", ["/healthz", "/metrics", "/openapi.json", "/api/whoami", "/nowhere", "/login", "/"]
)
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    _assert_secure(response)
    assert "strict-transport-security" not in response.headers  # plain HTTP: no HSTS


def test_json_answers_forbid_everything(client: TestClient) -> None:
    csp = client.get("/openapi.json").headers["content-security-policy"]
    assert csp.startswith("default-src 'none'")


def test_dashboard_pages_keep_their_strict_csp(client: TestClient) -> None:
    csp = client.get("/login").headers["content-security-policy"]
    assert "style-src 'self'" in csp
    assert "script-src" not in csp


def test_https_responses_carry_hsts_even_a_500(https_client: TestClient) -> None:
    for path in ("/healthz", "/api/crash/crash", "/docs"):
        response = https_client.get(path, headers={"Authorization": "Bearer x"})
        assert response.headers["strict-transport-security"] == "max-age=31536000"
        _assert_secure(response)
    _, token = https_client.app.state.skybridge.tokens.create("c")  # type: ignore[attr-defined]
    auth = {"Authorization": f"Bearer {token.reveal()}"}
    crash = https_client.get("/api/crash/crash", headers=auth)
    assert crash.status_code == 500
    assert crash.headers["strict-transport-security"] == "max-age=31536000"
    _assert_secure(crash)


def test_docs_load_only_local_assets_with_no_inline_script(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DOCS_CSP
    _assert_secure(page)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources
    assert all(s.startswith("/") and not s.startswith("//") for s in sources)
    assert "<script>" not in page.text
    assert "style=" not in page.text
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        assert asset.headers["x-content-type-options"] == NOSNIFF


def test_redoc_from_a_cdn_is_gone(client: TestClient) -> None:
    assert client.get("/redoc").status_code == 404


def test_a_burst_of_first_openapi_requests_builds_the_document_once() -> None:
    # Every worker thread building it at once kept the event loop (and /healthz) from the GIL
    # for seconds under load.
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.add_api_route("/api/thing", lambda: {"ok": True}, methods=["GET"])
    built = []
    build = app.openapi

    def slow_build() -> dict[str, Any]:
        built.append(threading.get_ident())
        time.sleep(0.2)
        return build()

    app.openapi = slow_build  # type: ignore[method-assign]
    install_docs(app)
    with TestClient(app) as docs_client, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: docs_client.get("/openapi.json"), range(8)))
    assert [a.status_code for a in answers] == [200] * 8
    assert len({a.content for a in answers}) == 1
    assert "/api/thing" in answers[0].json()["paths"]
    assert len(built) == 1


def _body_model(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """The component schema a request body refers to (an optional body: through anyOf)."""
    for option in [schema, *schema.get("anyOf", [])]:
        if "$ref" in option:
            found: dict[str, Any] = spec["components"]["schemas"][option["$ref"].rsplit("/", 1)[1]]
            return found
    return schema


def test_every_json_body_refuses_fields_it_does_not_know(settings: Settings) -> None:
    """An unknown field was dropped in silence: `{"aprove": true}` to costs/remediate ran a dry
    run, `{"dryrun": false}` to layers/prune planned only. Every body model forbids extras."""
    app = create_app(settings, apps=discover_apps(), background=False)
    with TestClient(app) as every_app:
        spec = every_app.get("/openapi.json").json()
    assert "/api/costs/remediate" in spec["paths"]
    lax = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            schema = content.get("application/json", {}).get("schema")
            if schema and _body_model(schema, spec).get("additionalProperties") is not False:
                lax.append(f"{method.upper()} {path}")
    assert lax == []

"""Error mapping to JSON, and how an app's router and page are mounted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import jinja2
import pytest
import typer
from fastapi import APIRouter
from fastapi.testclient import TestClient
from markupsafe import Markup
from sqlalchemy import create_engine, text

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.web import AppPage
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError, MissingDependency, NotFound, TransientError
from skybridge.server import create_app, dashboard
from skybridge.server.pages import render_app_page
from skybridge.testing.service import on_event_loop


def _router(context: AppContext[Any]) -> APIRouter:
    router = APIRouter(dependencies=[requires("probe:read")])

    @router.get("/things/{name}")
    def get_thing(name: str) -> dict[str, str]:
        raise NotFound(f"no thing named '{name}'", hint="list things with GET /api/probe/things")

    @router.get("/config")
    def bad_config() -> dict[str, str]:
        raise ConfigError("must be a URL", setting="backends.kv", hint="e.g. redis://host")

    @router.get("/busy")
    def busy() -> dict[str, str]:
        raise TransientError("queue is busy", retry_after=2.4)

    @router.get("/missing")
    def missing() -> dict[str, str]:
        raise MissingDependency("boto3", "aws", feature="the aws-sm:// secrets backend")

    @router.get("/crash")
    def crash() -> dict[str, str]:
        raise RuntimeError("something internal with a password=hunter2 in it")

    @router.get("/constraint")
    def constraint() -> dict[str, str]:
        engine = create_engine("sqlite://")
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (a INTEGER PRIMARY KEY)"))
            conn.execute(text("INSERT INTO t VALUES (7)"))
            conn.execute(text("INSERT INTO t VALUES (7)"))  # a stored row's key again
        return {}

    @router.get("/kv-url")
    def kv_url() -> dict[str, str]:
        return {"kv": context.backend_url("kv")}

    return router


def _page(context: AppContext[Any]) -> str:
    return "<p class='probe'>Probe page for <b>testing</b></p>"


PROBE = AppSpec(
    name="probe",
    title="Probe",
    description="An app used only by these tests.",
    router=_router,
    page=_page,
    cli=typer.Typer(),
    scopes={"probe:read": "read"},
)


@pytest.fixture
def probe_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, apps=[PROBE]), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def probe_auth(probe_client: TestClient) -> dict[str, str]:
    _, token = probe_client.app.state.skybridge.tokens.create("probe", ["admin"])  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token.reveal()}"}


def test_app_router_is_mounted_under_api_name_behind_auth(
    probe_client: TestClient, probe_auth: dict[str, str]
) -> None:
    assert probe_client.get("/api/probe/kv-url").status_code == 401
    response = probe_client.get("/api/probe/kv-url", headers=probe_auth)
    assert response.json() == {"kv": "sqlite:///.skybridge/kv.db"}


def test_not_found_becomes_404_json(probe_client: TestClient, probe_auth: dict[str, str]) -> None:
    response = probe_client.get("/api/probe/things/widget", headers=probe_auth)
    assert response.status_code == 404
    assert response.json() == {
        "error": "NotFound",
        "message": "no thing named 'widget' (list things with GET /api/probe/things)",
        "hint": "list things with GET /api/probe/things",
    }


def test_config_error_names_the_setting(
    probe_client: TestClient, probe_auth: dict[str, str]
) -> None:
    response = probe_client.get("/api/probe/config", headers=probe_auth)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "ConfigError"
    assert body["setting"] == "backends.kv"
    assert body["hint"] == "e.g. redis://host"


def test_transient_error_is_503_with_retry_after(
    probe_client: TestClient, probe_auth: dict[str, str]
) -> None:
    response = probe_client.get("/api/probe/busy", headers=probe_auth)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"


def test_missing_dependency_carries_the_pip_hint(
    probe_client: TestClient, probe_auth: dict[str, str]
) -> None:
    body = probe_client.get("/api/probe/missing", headers=probe_auth).json()
    assert body["error"] == "MissingDependency"
    assert body["hint"] == 'pip install "skybridge[aws]"'


def test_unexpected_errors_are_a_generic_500(
    probe_client: TestClient, probe_auth: dict[str, str]
) -> None:
    response = probe_client.get("/api/probe/crash", headers=probe_auth)
    assert response.status_code == 500
    assert response.json() == {
        "error": "InternalError",
        "message": "internal error; the service log has details",
    }


def test_a_database_constraint_refusing_a_change_is_a_409_that_quotes_no_row(
    probe_client: TestClient, probe_auth: dict[str, str]
) -> None:
    response = probe_client.get("/api/probe/constraint", headers=probe_auth)
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"
    assert "constraint or trigger" in response.json()["message"]
    assert "t.a" not in response.text
    assert "UNIQUE" not in response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/api/nowhere", 404), ("PUT", "/api/whoami", 405), ("POST", "/healthz", 405)],
)
def test_framework_errors_are_json_too(
    probe_client: TestClient, probe_auth: dict[str, str], method: str, path: str, status: int
) -> None:
    # With a token: without one, /api answers 401 before anything else (even the method).
    response = probe_client.request(method, path, headers=probe_auth)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"]


def test_app_page_is_served_in_the_layout_and_listed_in_the_nav(
    probe_client: TestClient, login: Callable[[TestClient, str], str]
) -> None:
    _, token = probe_client.app.state.skybridge.tokens.create("p", ["admin"])  # type: ignore[attr-defined]
    login(probe_client, token.reveal())
    overview = probe_client.get("/")
    assert 'href="/ui/probe"' in overview.text
    assert "An app used only by these tests." in overview.text
    page = probe_client.get("/ui/probe")
    assert page.status_code == 200
    assert "<p class='probe'>Probe page for <b>testing</b></p>" in page.text
    assert probe_client.get("/ui/nothing").status_code == 404


def test_an_app_page_is_built_and_rendered_off_the_event_loop(
    settings: Settings,
    login: Callable[[TestClient, str], str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The event loop also answers /healthz: a page rendered there (its template compiled on
    # first use) held every other request up for as long as the page took.
    where: list[tuple[str, bool]] = []

    def page(context: AppContext[Any]) -> str:
        where.append(("page", on_event_loop()))
        return "<p>page</p>"

    def action(context: AppContext[Any], form: Mapping[str, str]) -> str:
        where.append(("action", on_event_loop()))
        return "<p>done</p>"

    rendering = dashboard.render_app_page

    def render(*args: Any, **kwargs: Any) -> Markup:
        where.append(("render", on_event_loop()))
        return rendering(*args, **kwargs)

    monkeypatch.setattr(dashboard, "render_app_page", render)
    spec = replace(PROBE, page=page, page_action=action, page_scopes={"go": "probe:read"})
    with TestClient(create_app(settings, apps=[spec])) as client:
        _, token = client.app.state.skybridge.tokens.create("p", ["admin"])  # type: ignore[attr-defined]
        csrf = login(client, token.reveal())
        assert client.get("/ui/probe").status_code == 200
        assert client.post("/ui/probe", data={"csrf": csrf, "action": "go"}).status_code == 200
    assert where == [("page", False), ("render", False), ("action", False), ("render", False)]


def test_a_burst_of_first_page_requests_compiles_the_template_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every worker thread compiling the same template at once kept the event loop (and
    # /healthz) from the GIL.
    package = tmp_path / "burst_pages"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "templates" / "burst.html").write_text("<p>{{ name }}</p>")
    monkeypatch.syspath_prepend(str(tmp_path))
    compiled: list[str | None] = []
    compile_source = jinja2.Environment.compile

    def slow_compile(
        self: jinja2.Environment, source: Any, name: str | None = None, *args: Any
    ) -> Any:
        compiled.append(name)
        time.sleep(0.2)
        return compile_source(self, source, name, *args)

    monkeypatch.setattr(jinja2.Environment, "compile", slow_compile)
    together = threading.Barrier(6)

    def first_request(_: int) -> str:
        together.wait()
        return render_app_page(AppPage("burst_pages", "burst.html", {"name": "x"}))

    with ThreadPoolExecutor(6) as pool:
        pages = list(pool.map(first_request, range(6)))
    assert pages == ["<p>x</p>"] * 6
    assert compiled == ["burst.html"]

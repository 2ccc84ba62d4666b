"""Request limits: authentication before the body, the body cap, rate limits, admission."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio
import anyio.from_thread
import httpx
import pytest
import typer
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.testclient import TestClient

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.limits import BodyLimit, MiB
from skybridge.apps.kit.manifest import AppSpec
from skybridge.core.config import Settings
from skybridge.server import create_app
from skybridge.server.bodycap import describe_bytes
from skybridge.server.observe import healthz, metrics
from skybridge.server.ratelimit import BucketTable
from skybridge.server.session import SESSION_COOKIE, Session


def _router(context: AppContext[Any]) -> APIRouter:
    router = APIRouter(dependencies=[requires("limited:use")])

    @router.post("/echo")
    def echo(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    @router.post("/upload", dependencies=[Depends(BodyLimit(4 * MiB))])
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @router.post("/nothing")
    def nothing() -> dict[str, bool]:
        return {"ok": True}

    @router.get("/sleep")
    def sleep(seconds: float = 0.5) -> dict[str, float]:
        time.sleep(seconds)
        return {"slept": seconds}

    return router


LIMITED = AppSpec(
    name="limited",
    title="Limited",
    description="Routes for limit tests.",
    router=_router,
    cli=typer.Typer(),
    scopes={"limited:use": "read"},
)


def _run_in_own_loop(function: Any, *args: Any) -> Any:
    """Await ``function(*args)`` on an event loop in a thread of its own (the browser tests
    keep one running in this thread)."""
    with anyio.from_thread.start_blocking_portal() as portal:
        return portal.call(function, *args)


def _with_server(settings: Settings, **server: Any) -> Settings:
    return settings.model_copy(update={"server": settings.server.model_copy(update=server)})


def _app(settings: Settings, **server: Any) -> FastAPI:
    return create_app(_with_server(settings, **server), apps=[LIMITED])


@pytest.fixture
def limited(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = _app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        _, token = app.state.skybridge.tokens.create("limits")
        yield client, {"Authorization": f"Bearer {token.reveal()}"}


def test_an_unauthenticated_non_json_body_is_401_not_422(
    limited: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = limited
    response = client.post("/api/limited/echo", content=b"\x00not json at all")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "Unauthorized"


def test_a_wrong_token_is_401_before_the_body(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = limited
    headers = {"Authorization": "Bearer sbk_wrong", "Content-Type": "application/json"}
    response = client.post("/api/limited/echo", content=b"{broken", headers=headers)
    assert response.status_code == 401
    assert response.json()["message"] == "the API token is unknown or revoked"


def _post_scope(path: str, headers: dict[str, str], client: str) -> dict[str, Any]:
    """The ASGI scope of a ``POST path`` from ``client``, for driving the app directly."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": (client, 40000),
        "server": ("127.0.0.1", 8080),
    }


def test_no_body_byte_is_read_before_authentication(settings: Settings) -> None:
    app = _app(settings)
    body_reads = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal body_reads
        body_reads += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = _post_scope("/api/limited/echo", {"content-length": str(150 * MiB)}, "127.0.0.1")
    _run_in_own_loop(app, scope, receive, send)
    assert body_reads == 0
    assert messages[0]["status"] == 401


def test_a_body_over_the_cap_is_413_with_what_to_do(
    limited: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = limited
    body = b'{"a": "' + b"x" * (MiB + 10) + b'"}'
    response = client.post("/api/limited/echo", content=body, headers=auth)
    assert response.status_code == 413
    error = response.json()
    assert error["error"] == "ContentTooLarge"
    assert "1 MiB" in error["message"]
    assert "server.max_body_bytes" in error["message"]


def test_a_chunked_body_is_counted_while_it_streams(
    limited: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = limited
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(64):
            sent += 64 * 1024
            yield b"x" * (64 * 1024)

    response = client.post("/api/limited/echo", content=chunks(), headers=auth)
    assert response.status_code == 413
    assert "1 MiB" in response.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/limited/sleep?seconds=0"), ("POST", "/api/limited/nothing")],
)
def test_an_announced_body_over_the_cap_is_413_on_routes_that_read_none(
    limited: tuple[TestClient, dict[str, str]], method: str, path: str
) -> None:
    client, auth = limited
    small = client.request(method, path, content=b"x" * 1024, headers=auth)
    assert small.status_code == 200  # a small body is left unread, as before
    response = client.request(method, path, content=b"x" * (MiB + 1), headers=auth)
    assert response.status_code == 413
    assert "1 MiB" in response.json()["message"]


def test_a_route_declares_a_larger_limit(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = limited
    accepted = client.post("/api/limited/upload", content=b"x" * (2 * MiB), headers=auth)
    assert accepted.status_code == 200
    assert accepted.json() == {"bytes": 2 * MiB}
    refused = client.post("/api/limited/upload", content=b"x" * (4 * MiB + 1), headers=auth)
    assert refused.status_code == 413
    assert "4 MiB" in refused.json()["message"]


def test_the_cap_is_a_setting(settings: Settings) -> None:
    app = _app(settings, max_body_bytes=2048)
    with TestClient(app) as client:
        _, token = app.state.skybridge.tokens.create("small")
        auth = {"Authorization": f"Bearer {token.reveal()}"}
        assert client.post("/api/limited/echo", json={"a": "x" * 100}, headers=auth).is_success
        response = client.post("/api/limited/echo", json={"a": "x" * 4000}, headers=auth)
        assert response.status_code == 413
        assert "2 KiB (2048 bytes)" in response.json()["message"]


def test_dashboard_forms_get_the_same_cap(limited: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = limited
    response = client.post("/login", data={"token": "x" * (2 * MiB), "csrf": "y"})
    assert response.status_code == 413


def test_a_token_over_its_rate_gets_429_with_retry_after(settings: Settings) -> None:
    # A slow refill (one request per 100 s), so a slow machine cannot earn one back mid-test.
    app = _app(settings, token_rate_per_second=0.01, token_rate_burst=3)
    with TestClient(app) as client:
        _, token = app.state.skybridge.tokens.create("busy")
        auth = {"Authorization": f"Bearer {token.reveal()}"}
        statuses = [client.get("/api/whoami", headers=auth).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = client.get("/api/whoami", headers=auth)
        assert 90 <= int(refused.headers["retry-after"]) <= 100
        assert "API token" in refused.json()["message"]
        _, other = app.state.skybridge.tokens.create("other")
        fresh = client.get("/api/whoami", headers={"Authorization": f"Bearer {other.reveal()}"})
        assert fresh.status_code == 200


def test_an_address_without_a_token_is_rate_limited_too(settings: Settings) -> None:
    app = _app(settings, anonymous_rate_per_second=0.01, anonymous_rate_burst=2)
    with TestClient(app) as client:
        statuses = [client.get("/api/whoami").status_code for _ in range(3)]
        assert statuses == [401, 401, 429]
        wrong = client.get("/api/whoami", headers={"Authorization": "Bearer sbk_guess"})
        assert wrong.status_code == 429
        assert int(wrong.headers["retry-after"]) >= 1
        assert "this client address sent more requests without a valid token" in wrong.text
        assert "no token from it is checked" in wrong.text
        assert client.get("/login").status_code == 429
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_health_and_metrics_never_wait_for_a_worker_thread() -> None:
    assert inspect.iscoroutinefunction(healthz)
    assert inspect.iscoroutinefunction(metrics)


async def _while_busy(
    app: FastAPI, auth: dict[str, str], sleepers: int, seconds: float, probe: Any
) -> tuple[list[int], Any, float]:
    """``await probe(client)`` while ``sleepers`` requests sleep ``seconds`` in worker threads:
    the sleepers' statuses, the probe's answer and how long it took."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        slow = [
            asyncio.create_task(client.get(f"/api/limited/sleep?seconds={seconds}", headers=auth))
            for _ in range(sleepers)
        ]
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        answer = await probe(client)
        took = time.perf_counter() - started
        statuses = [r.status_code for r in await asyncio.gather(*slow)]
    return statuses, answer, took


def test_requests_beyond_the_pool_and_queue_get_503_and_health_still_answers(
    settings: Settings,
) -> None:
    app = _app(settings, worker_threads=2, worker_queue=2)
    _, token = app.state.skybridge.tokens.create("load")
    auth = {"Authorization": f"Bearer {token.reveal()}"}

    async def probe(client: httpx.AsyncClient) -> httpx.Response:
        assert (await client.get("/healthz")).status_code == 200
        return await client.get("/api/whoami", headers=auth)  # a fifth request: no room

    statuses, extra, health_seconds = _run_in_own_loop(_while_busy, app, auth, 4, 1, probe)
    assert statuses == [200, 200, 200, 200]
    assert extra.status_code == 503
    assert extra.headers["retry-after"] == "1"
    # Long before a worker thread frees up (1 s): health did not wait for one. The 100 ms
    # figure is measured from outside, by tests/security/test_load.py.
    assert health_seconds < 0.5


def test_a_caller_without_the_scope_is_refused_without_a_worker_thread(
    settings: Settings,
) -> None:
    # The token check (its own lane) and the scope check (on the event loop) never wait for
    # the worker pool: with both worker threads busy for 2 s, the 403 comes at once.
    app = _app(settings, worker_threads=2, worker_queue=4)
    tokens = app.state.skybridge.tokens
    _, busy_token = tokens.create("busy")
    busy = {"Authorization": f"Bearer {busy_token.reveal()}"}
    _, narrow = tokens.create("narrow", scopes=["service:read"])
    other = {"Authorization": f"Bearer {narrow.reveal()}"}

    async def probe(client: httpx.AsyncClient) -> httpx.Response:
        return await client.get("/api/limited/sleep?seconds=0", headers=other)

    statuses, refused, seconds = _run_in_own_loop(_while_busy, app, busy, 2, 2, probe)
    assert statuses == [200, 200]
    assert refused.status_code == 403
    assert "limited:use" in refused.json()["message"]
    assert seconds < 1.0  # the worker threads free up only after 2 s


def test_buckets_refill_at_their_rate() -> None:
    now = [0.0]
    table = BucketTable(2.0, 2, clock=lambda: now[0])
    assert [table.take("k").allowed for _ in range(3)] == [True, True, False]
    assert table.take("k").retry_after == 1
    now[0] += 0.5
    assert table.take("k").allowed
    assert table.check("other").allowed
    assert BucketTable(0, 1).take("k").allowed


def test_the_bucket_table_forgets_the_least_recent_keys() -> None:
    table = BucketTable(1.0, 1, max_keys=2)
    for key in ("a", "b", "c"):
        table.take(key)
    assert table.take("a").allowed  # forgotten, so a fresh bucket
    assert not table.take("c").allowed


@pytest.mark.parametrize(
    ("size", "text"), [(MiB, "1 MiB"), (1536, "1536 bytes"), (2048, "2 KiB"), (1 << 30, "1 GiB")]
)
def test_sizes_read_well(size: int, text: str) -> None:
    assert describe_bytes(size) == text


def test_body_limit_needs_a_positive_size() -> None:
    with pytest.raises(ValueError, match="positive"):
        BodyLimit(0)


async def _stalled(
    app: FastAPI,
    path: str,
    *,
    client: str = "10.0.0.1",
    headers: dict[str, str] | None = None,
    ready: anyio.Event | None = None,
) -> dict[str, Any]:
    """POST to ``path`` straight through ASGI, sending a first part of a 1,000-byte form body
    and then nothing: the answer's start message (status, headers) and its body."""
    parts = [b"token="]
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        if parts:
            return {"type": "http.request", "body": parts.pop(), "more_body": True}
        if ready is not None:
            ready.set()
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    sent = {
        "content-type": "application/x-www-form-urlencoded",
        "content-length": "1000",
        **(headers or {}),
    }
    scope = _post_scope(path, sent, client)
    await app(scope, receive, send)  # type: ignore[arg-type]
    return answer


def test_a_body_that_stops_arriving_is_answered_408_and_frees_its_slot(
    settings: Settings,
) -> None:
    app = _app(settings, body_timeout=0.3)

    async def scenario() -> tuple[dict[str, Any], float, int]:
        started = time.perf_counter()
        answer = await _stalled(app, "/login")
        return answer, time.perf_counter() - started, _guard(app).admission.in_progress

    with TestClient(app):
        answer, seconds, in_progress = _run_in_own_loop(scenario)
    assert answer["status"] == 408
    assert answer["headers"]["connection"] == "close"
    assert "server.body_timeout" in answer["body"].decode()
    assert 0.3 <= seconds < 2
    assert in_progress == 0


def _guard(app: FastAPI) -> Any:
    """The app's RequestGuard (built with the middleware stack on the first request)."""
    layer: Any = app.middleware_stack
    while layer is not None and type(layer).__name__ != "RequestGuard":
        layer = getattr(layer, "app", None)
    assert layer is not None
    return layer


def test_clients_not_signed_in_cannot_keep_those_signed_in_out(settings: Settings) -> None:
    # 2 threads + 2 queued = 4 slots; requests without a token hold at most 2 of them, and at
    # most 1 per address: stalled logins from one address, then from two, never reach a token.
    app = _app(settings, worker_threads=2, worker_queue=2, anonymous_in_progress=1)
    state = app.state.skybridge
    _, token = state.tokens.create("holder")
    auth = {"Authorization": f"Bearer {token.reveal()}"}
    # A dashboard user signed in with that token (the cookie /login sets).
    principal = state.tokens.verify(token.reveal())
    fingerprint = state.signer.fingerprint(state.tokens.active_hash(principal))
    cookie = state.signer.dumps("session", Session.start(principal, fingerprint).to_payload())
    signed_in = {"Cookie": f"{SESSION_COOKIE}={cookie}"}

    async def scenario() -> tuple[list[int], int]:
        async with anyio.create_task_group() as tasks:
            for client in ("10.0.0.1", "10.0.0.2"):
                ready = anyio.Event()
                tasks.start_soon(partial(_stalled, app, "/login", client=client, ready=ready))
                await ready.wait()
            same = await _stalled(app, "/login", client="10.0.0.1")
            third = await _stalled(app, "/login", client="10.0.0.3")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                holder = await client.get("/api/whoami", headers=auth)
                page = await client.get("/", headers=signed_in)
                forged = await client.get("/", headers={"Cookie": f"{SESSION_COOKIE}=x.y"})
            tasks.cancel_scope.cancel()
        left = _guard(app).admission.anonymous
        statuses = [same["status"], third["status"], holder.status_code]
        return [*statuses, page.status_code, forged.status_code], left

    with TestClient(app):
        statuses, anonymous_left = _run_in_own_loop(scenario)
    # The signed-in user's page is served; a cookie the service did not sign counts for nothing.
    assert statuses == [429, 503, 200, 200, 503]
    assert anonymous_left == 0


def test_the_session_of_a_revoked_token_is_admitted_as_a_client_not_signed_in(
    settings: Settings,
) -> None:
    """A revoked token's cookie kept a signed-in user's admission (no per-address cap, outside
    the half of the slots left to clients without a token): one address with it filled every
    slot, and a valid token got 503."""
    app = _app(settings, worker_threads=2, worker_queue=2, anonymous_in_progress=1)
    state = app.state.skybridge
    _, gone = state.tokens.create("gone")
    _, holder = state.tokens.create("holder")
    principal = state.tokens.verify(gone.reveal())
    fingerprint = state.signer.fingerprint(state.tokens.active_hash(principal))
    cookie = state.signer.dumps("session", Session.start(principal, fingerprint).to_payload())
    state.tokens.revoke("gone")
    old_cookie = {"cookie": f"{SESSION_COOKIE}={cookie}"}
    auth = {"Authorization": f"Bearer {holder.reveal()}"}

    async def scenario() -> list[int | None]:
        async def one() -> int | None:  # None: admitted, still waiting for its body
            with anyio.move_on_after(1):
                return int((await _stalled(app, "/login", client="10.0.0.9", **cookie))["status"])
            return None

        cookie: dict[str, Any] = {"headers": old_cookie}
        async with anyio.create_task_group() as tasks:
            ready = anyio.Event()
            tasks.start_soon(
                partial(_stalled, app, "/login", client="10.0.0.9", ready=ready, **cookie)
            )
            await ready.wait()
            more = [await one() for _ in range(3)]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                valid = await client.get("/api/whoami", headers=auth)
            tasks.cancel_scope.cancel()
        return [*more, valid.status_code]

    with TestClient(app):
        statuses = _run_in_own_loop(scenario)
    assert statuses == [429, 429, 429, 200]  # one per address; the valid token is served


def test_a_page_request_reads_its_sessions_token_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The admission guard checks that a session's token is active; the page then used to read
    the token store again for the same answer."""
    app = _app(settings)
    state = app.state.skybridge
    _, token = state.tokens.create("reader")
    principal = state.tokens.verify(token.reveal())
    fingerprint = state.signer.fingerprint(state.tokens.active_hash(principal))
    cookie = state.signer.dumps("session", Session.start(principal, fingerprint).to_payload())
    reads: list[str] = []
    active = state.tokens.active

    def counted(who: Any) -> Any:
        reads.append(who.name)
        return active(who)

    monkeypatch.setattr(state.tokens, "active", counted)
    with TestClient(app) as client:
        page = client.get("/", headers={"Cookie": f"{SESSION_COOKIE}={cookie}"})
    assert page.status_code == 200
    assert reads == ["reader"]

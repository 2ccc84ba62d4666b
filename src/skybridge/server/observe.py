"""Access log, request metrics, ``/healthz`` and ``/metrics``.

``/healthz`` and ``/metrics`` need no token: load balancers and Prometheus scrapers rarely carry
one, and neither answer reveals anything secret. Metric labels are route templates, methods,
status codes, backend family/scheme names and names the configuration gives (secretsync
mappings, datasync tables and batches, topics, pipelines, consumer groups, rag collections);
never a value, id or URL (docs/security.md). Methods outside the standard set are counted as
``OTHER``, so clients cannot grow the number of series. Put the service behind a proxy that
filters ``/metrics`` if even that is too much.

The access log records method, path, route template, status, duration and client address;
never headers (``Authorization``, ``Cookie``) or query strings.
"""

from __future__ import annotations

import time
from contextlib import suppress
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from pydantic import BaseModel
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skybridge.core.observability import METRICS, get_logger
from skybridge.server.lanes import METRICS_LANE
from skybridge.server.route_templates import RouteTemplates, template_of
from skybridge.server.state import get_state

log = get_logger("skybridge.server.access")

HTTP_REQUESTS = Counter(
    "skybridge_http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
    registry=METRICS,
)
HTTP_LATENCY = Histogram(
    "skybridge_http_request_seconds",
    "Time to answer HTTP requests, by method and route template.",
    ["method", "route"],
    registry=METRICS,
)
with suppress(ValueError):  # already registered by someone else in this process
    ProcessCollector(registry=METRICS)

UNMATCHED = "<unmatched>"
#: Methods recorded by name in metrics; any other (clients may send any token) counts as "OTHER".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "OTHER"


def method_label(method: str) -> str:
    """``method`` as a metric label: one of :data:`KNOWN_METHODS` or ``OTHER`` (bounded series)."""
    return method if method in KNOWN_METHODS else OTHER_METHOD


def route_template(scope: Scope, routes: list[BaseRoute]) -> str:
    """The matched route's path template (``/api/tokens/{name}``), never the raw path.

    FastAPI records its own routes in ``scope["route"]``; a request answered before routing
    (401, 429, 413) is matched against the recorded templates, and plain Starlette routes
    (``/docs``, ``/openapi.json``, the static mount) against a copy of the scope.
    """
    templates = _templates(scope)
    if templates is not None and (found := templates.of_path(scope["path"])) is not None:
        return found
    for route in routes:
        match, _ = route.matches(dict(scope))
        if match is Match.FULL:
            return template_of(route) or UNMATCHED
    return UNMATCHED


def _templates(scope: Scope) -> RouteTemplates | None:
    found = getattr(getattr(scope.get("app"), "state", None), "route_templates", None)
    return found if isinstance(found, RouteTemplates) else None


class AccessLogMiddleware:
    """Pure ASGI middleware: one structured log line and two metric samples per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        scope_before = dict(scope)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            templates = _templates(scope)
            matched = scope.get("route")
            route = templates.of_route(matched) if templates is not None else template_of(matched)
            if route is None:
                route = route_template(scope_before, getattr(scope.get("app"), "routes", []))
            self._record(scope, route, status, time.perf_counter() - started)

    @staticmethod
    def _record(scope: Scope, route: str, status: int, elapsed: float) -> None:
        method = scope["method"]
        label = method_label(method)
        HTTP_REQUESTS.labels(label, route, str(status)).inc()
        HTTP_LATENCY.labels(label, route).observe(elapsed)
        client = scope.get("client")
        log.info(
            "http.request",
            method=method,
            path=scope["path"],
            route=route,
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            client=client[0] if client else None,
        )


class Health(BaseModel):
    status: str
    version: str


public = APIRouter(tags=["service"])


# Both are async and never wait for a worker thread, so they answer while long requests hold
# every one: /healthz answers from the event loop, /metrics renders in a thread lane of its own.
@public.get("/healthz", response_model=Health, summary="Liveness (no token needed)")
async def healthz(request: Request) -> Any:
    return Health(status="ok", version=get_state(request).version)


@public.get(
    "/metrics",
    summary="Prometheus metrics (no token needed)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics() -> Response:
    return Response(
        await METRICS_LANE.run(generate_latest, METRICS), media_type=CONTENT_TYPE_LATEST
    )

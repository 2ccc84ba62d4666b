"""Security headers on every response the service sends, errors and 500s included.

:class:`SecurityHeaders` adds a header only where the response did not set it, so dashboard
pages keep their own stricter Content-Security-Policy and ``/docs`` its own. It wraps the whole
middleware stack (see :class:`ServiceApp`), so even the answer to an unhandled exception carries
the headers. ``Strict-Transport-Security`` is sent on HTTPS requests only: served with
``--tls-cert``, or behind a trusted proxy whose ``X-Forwarded-Proto`` says ``https``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skybridge.server.route_templates import RouteTemplates

#: For JSON, redirects and errors: nothing may load, nothing may frame it.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DEFAULT_HEADERS = {
    "Content-Security-Policy": DEFAULT_CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: One year; browsers then refuse plain HTTP to this host.
HSTS = "max-age=31536000"


def with_security_headers(message: Message, https: bool) -> Message:
    """``message`` (an ``http.response.start``) with any missing security header added."""
    headers = MutableHeaders(raw=list(message.get("headers", [])))
    for name, value in DEFAULT_HEADERS.items():
        headers.setdefault(name, value)
    if https:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return {**message, "headers": headers.raw}


class SecurityHeaders:
    """Pure ASGI middleware adding :data:`DEFAULT_HEADERS` (and HSTS over HTTPS)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_security_headers(message, scope.get("scheme") == "https")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ServiceApp(FastAPI):
    """FastAPI with :class:`SecurityHeaders` outside every other middleware.

    Middleware added with ``add_middleware`` sits inside Starlette's error middleware, which
    answers unhandled exceptions (500); wrapping the built stack covers those answers too.
    """

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(super().build_middleware_stack())

    def include_router(self, router: APIRouter, *args: Any, **kwargs: Any) -> None:
        """Include ``router``, recording its routes' full templates for metrics and logs."""
        templates = getattr(self.state, "route_templates", None)
        if templates is None:
            templates = self.state.route_templates = RouteTemplates()
        templates.add(router.routes, kwargs.get("prefix", args[0] if args else ""))
        super().include_router(router, *args, **kwargs)

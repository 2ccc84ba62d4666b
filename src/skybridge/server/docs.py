"""``/openapi.json`` and ``/docs``: Swagger UI from the installed ``swagger-ui-bundle-v2``.

The page loads only files of this service (the bundle under ``/docs/assets``, its starter
``/static/api-docs.js``), so it works offline and its Content-Security-Policy allows ``'self'``
alone: no inline script or style, no other origin. ReDoc, which FastAPI loads from a CDN, is off.

The OpenAPI document is built once in a worker thread (it takes a good part of a second) and then
served as cached bytes, so neither building nor serializing it holds up the event loop, which
``/healthz`` shares. Requests that arrive while it is being built wait for that one build: a burst
of first requests building it in every worker thread at once kept the event loop from the GIL for
seconds.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from skybridge.core.memo import BuiltOnce

ASSETS = "/docs/assets"
OPENAPI_URL = "/openapi.json"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - API docs</title>
<link rel="stylesheet" href="{root}{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}{assets}/favicon-32x32.png">
</head>
<body>
<nav class="information-container wrapper"><a href="{root}/">&larr; skybridge dashboard</a></nav>
<div id="swagger-ui" data-openapi-url="{root}{openapi}"></div>
<script src="{root}{assets}/swagger-ui-bundle.js"></script>
<script src="{root}/static/api-docs.js"></script>
</body>
</html>
"""


def docs_page(request: Request) -> HTMLResponse:
    """The Swagger UI page for this service's OpenAPI schema."""
    app = request.app
    html = _PAGE.format(
        title=escape(app.title),
        root=escape(request.scope.get("root_path", "").rstrip("/")),
        assets=ASSETS,
        openapi=OPENAPI_URL,
    )
    headers = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, headers=headers)


class SchemaDocument:
    """The app's OpenAPI document as JSON bytes, built off the event loop on first use."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._bodies: BuiltOnce[str, bytes] = BuiltOnce()

    def _body(self, root_path: str) -> bytes:
        return self._bodies.get(root_path, lambda: self._render(root_path))

    def _render(self, root_path: str) -> bytes:
        schema = dict(self._app.openapi())
        if root_path and root_path not in {s.get("url") for s in schema.get("servers", [])}:
            schema["servers"] = [{"url": root_path}, *schema.get("servers", [])]
        return json.dumps(schema, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    async def response(self, request: Request) -> Response:
        """``GET /openapi.json``."""
        root_path = request.scope.get("root_path", "").rstrip("/")
        body = self._bodies.built(root_path)
        if body is None:
            body = await anyio.to_thread.run_sync(self._body, root_path)
        return Response(body, media_type="application/json")


def install_docs(app: FastAPI) -> None:
    """Serve ``/openapi.json``, ``/docs`` and its assets.

    Create the app with ``openapi_url=None, docs_url=None, redoc_url=None``: these replace
    FastAPI's own routes.
    """
    document = SchemaDocument(app)
    app.add_route(OPENAPI_URL, document.response, include_in_schema=False)
    app.mount(ASSETS, StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets")
    app.add_api_route("/docs", docs_page, methods=["GET"], include_in_schema=False)

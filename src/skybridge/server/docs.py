"""``/docs``: Swagger UI served from the installed ``swagger-ui-bundle`` package, no CDN.

The page loads only files of this service (the bundle under ``/docs/assets``, its starter
``/static/api-docs.js``), so it works offline and its Content-Security-Policy allows ``'self'``
alone: no inline script or style, no other origin. ReDoc, which FastAPI loads from a CDN, is off.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

ASSETS = "/docs/assets"
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
        openapi=escape(app.openapi_url or "/openapi.json"),
    )
    headers = {"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-store"}
    return HTMLResponse(html, headers=headers)


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its assets (create the app with ``docs_url=None, redoc_url=None``)."""
    app.mount(ASSETS, StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets")
    app.add_api_route("/docs", docs_page, methods=["GET"], include_in_schema=False)

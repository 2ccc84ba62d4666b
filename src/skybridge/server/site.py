"""What every site has: a favicon, and a page (not JSON) for an address that leads nowhere.

Under ``/api`` a 404 stays the JSON error body every API client expects; anywhere else a person
is looking, so they get the dashboard's "Page not found" (with the navigation when signed in).
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from skybridge.core.errors import PermissionDenied
from skybridge.server.errors import error_response, skybridge_error
from skybridge.server.pages import STATIC_DIR, render
from skybridge.server.security import authorize, current_session
from skybridge.server.session import Session

assets = APIRouter(include_in_schema=False)
#: Paths whose 404 stays JSON: the API and the machine-read endpoints.
_JSON_PATHS = ("/api/", "/openapi.json", "/healthz", "/metrics")


@assets.get("/favicon.ico")
def favicon() -> Response:
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon")


def _wants_json(path: str) -> bool:
    return path == "/api" or path.startswith(_JSON_PATHS)


def not_found(request: Request, exc: Exception) -> Response:
    """404: JSON under ``/api``, the "Page not found" page elsewhere."""
    detail = str(exc.detail) if isinstance(exc, HTTPException) else "Not Found"
    if _wants_json(request.url.path):
        return error_response(404, "NotFound", detail)
    return render(
        request,
        "404.html",
        session=_signed_in(request),
        active="",
        status_code=404,
        path=request.url.path,
        detail="" if detail == "Not Found" else detail,
    )


async def forbidden(request: Request, exc: Exception) -> Response:
    """403 on a dashboard page: the "Not allowed" page (with the navigation to what the session
    may open), not the API's JSON body; under ``/api`` the JSON error as for any error."""
    assert isinstance(exc, PermissionDenied)
    if _wants_json(request.url.path):
        return await skybridge_error(request, exc)
    return await run_in_threadpool(_forbidden_page, request, exc)


def _forbidden_page(request: Request, exc: PermissionDenied) -> Response:
    session = _signed_in(request)
    return render(
        request, "403.html", session=session, active="", status_code=403, message=str(exc)
    )


def _signed_in(request: Request) -> Session | None:
    """The request's dashboard session, authorized so the page's bar shows what it may open."""
    session = current_session(request)
    if session is not None:
        authorize(request, session.principal)
    return session


def install_site(app: FastAPI) -> None:
    """Serve the favicon and answer 404s and dashboard 403s as above."""
    app.include_router(assets)
    app.add_exception_handler(404, not_found)
    app.add_exception_handler(PermissionDenied, forbidden)

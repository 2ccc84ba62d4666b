"""Every error leaves the service as JSON ``{"error": type, "message": ..., "setting"/"hint"}``.

``SkybridgeError`` subclasses answer with their ``http_status``; request validation answers 422
naming each field and what to fix (never echoing the submitted value, which may be secret);
HTTP errors keep their status. Anything unexpected is logged and answers a generic 500.

The handlers are coroutines: Starlette runs a plain function handler in the worker thread pool,
so a 401, 403 or 422 would otherwise wait behind busy routes for a thread to build its answer.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException
from starlette.routing import Match

from skybridge.apps.kit.answers import SafeJSONResponse
from skybridge.apps.kit.errors import ErrorBody, FieldProblem, rule_for
from skybridge.core.errors import ConfigError, SkybridgeError, TransientError
from skybridge.core.locations import hide_locations
from skybridge.core.observability import error_summary, get_logger
from skybridge.server.state import locations_hidden

log = get_logger(__name__)
__all__ = ["ErrorBody", "FieldProblem", "LoginRequired", "error_response"]


class LoginRequired(Exception):
    """A dashboard page was requested without a valid session."""


def error_response(
    status: int, error: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = ErrorBody(error=error, message=message, **extra)
    return SafeJSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


async def skybridge_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SkybridgeError)
    headers = {}
    if isinstance(exc, TransientError) and exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    setting = exc.setting if isinstance(exc, ConfigError) else None
    if exc.http_status >= 500:
        log.error(
            "http.error", error=type(exc).__name__, message=exc.message, path=request.url.path
        )
    message, hint = str(exc), exc.hint
    hidden = locations_hidden(request)
    if hidden is not None:  # the log above keeps the whole text
        message = hide_locations(message, hidden)
        hint = None if hint is None else hide_locations(hint, hidden)
    return error_response(
        exc.http_status, type(exc).__name__, message, headers, setting=setting, hint=hint
    )


def _field_problem(err: dict[str, Any], content_type: str) -> FieldProblem:
    """One validation error as field and problem, said so that a client knows what to fix
    (the body's own faults: not JSON, or not sent as JSON)."""
    loc = tuple(err.get("loc", ()))
    if err.get("type") == "json_invalid":
        where = f" at character {loc[1]}" if len(loc) > 1 else ""
        detail = str((err.get("ctx") or {}).get("error", "")).lower()
        return FieldProblem(field="body", problem=f"not valid JSON{where}: {detail}".rstrip(": "))
    if loc == ("body",) and "json" not in content_type:
        return FieldProblem(
            field="body",
            problem=f"send a JSON object with Content-Type: application/json "
            f"(got {content_type or 'no Content-Type'})",
        )
    problem = str(err["msg"])
    if err.get("type") == "string_pattern_mismatch":
        rule = rule_for(str((err.get("ctx") or {}).get("pattern", "")))
        problem = f"must be {rule}" if rule else problem
    return FieldProblem(field=".".join(str(p) for p in loc), problem=problem)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    problems = [_field_problem(err, content_type) for err in exc.errors()]
    message = "; ".join(f"{p.field}: {p.problem}" for p in problems) or "invalid request"
    return error_response(422, "ValidationError", message, errors=problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    try:
        name = HTTPStatus(exc.status_code).phrase.replace(" ", "").replace("-", "")
    except ValueError:
        name = "HTTPError"
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 400 and exc.detail == _UNPARSED:
        return error_response(400, name, _unparsed(exc.__cause__), headers, hint=_UNPARSED_HINT)
    return error_response(exc.status_code, name, str(exc.detail), headers)


#: What FastAPI answers for a body it could not read as JSON (other than malformed JSON,
#: which is a 422 naming the place); the cause says what it was.
_UNPARSED = "There was an error parsing the body"
_UNPARSED_HINT = "send the body as JSON in UTF-8"


def _unparsed(cause: BaseException | None) -> str:
    """What was wrong with a body FastAPI could not parse, in words."""
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not UTF-8 (byte {cause.start} cannot be decoded)"
    if isinstance(cause, RecursionError):
        return "the JSON body is nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number in the JSON body has too many digits"
    kind = type(cause).__name__ if cause is not None else "unknown error"
    return f"the body could not be read as JSON ({kind})"


async def _login_required(request: Request, exc: Exception) -> Response:
    """To the login page, which returns to the page asked for (its path and, for a page read,
    its query) once signed in."""
    target = request.url.path
    if request.method == "GET" and request.url.query:
        target += f"?{request.url.query}"
    elif request.method != "GET" and not _readable(request, target):
        target = "/"  # a form's address that is no page (a revoke): back to the overview
    if target == "/":
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)


async def _integrity_error(request: Request, exc: Exception) -> Response:
    """A database constraint refused a change (a key taken meanwhile, a trigger of the
    database's own): the request conflicts with the stored state. The constraint's message
    may quote stored rows, so it goes to the log, not to the client."""
    log.warning(
        "http.constraint_refused",
        path=request.url.path,
        error=error_summary(getattr(exc, "orig", exc)),
    )
    return error_response(
        409,
        "Conflict",
        "the database refused the change: a constraint or trigger of the database does not "
        "allow it",
    )


def _readable(request: Request, path: str) -> bool:
    """Whether ``path`` answers a GET (a form posted to a page's own address does)."""
    scope = {"type": "http", "path": path, "method": "GET"}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("http.unhandled", error=type(exc).__name__, path=request.url.path, exc_info=exc)
    return error_response(500, "InternalError", "internal error; the service log has details")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(SkybridgeError, skybridge_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(Exception, _unexpected)

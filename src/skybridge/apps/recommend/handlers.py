"""Cloud entry points of the serving path, as in the original design (API Gateway + Functions).

* ``oci_handler(ctx, data)``: OCI Functions (fdk-style) behind OCI API Gateway. ``GET
  <route>/<user>?k=5&category=running&category=trail&segment=eu`` answers recommendations;
  ``POST <route>/events`` with ``{"events": [...]}`` publishes feedback; ``POST
  <route>/<user>/generate`` with ``{"context": "..."}`` asks the language model. Invoked directly
  (no gateway), ``data`` is ``{"user_id": "U123", "k": 5}`` or ``{"events": [...]}``. Returns
  JSON text and sets the HTTP status through ``ctx.SetResponseHeaders`` when the context has it.
* ``lambda_handler(event, context)``: the same on AWS Lambda behind API Gateway (REST API proxy
  payload 1.0 or HTTP API payload 2.0), returning ``{"statusCode", "headers", "body"}``; an
  event that is no proxy event is taken as the body of a direct invoke.

The user is, in this order: the ``user`` (or ``user_id``, ``userId``) path parameter API
Gateway sends; the body's ``user_id`` (the original article's key) or ``user``; the last
segment of ``<route>/<user>`` or ``<route>/<user>/generate``. A route word (``recommendations``,
``events``...) is never taken as a user: a path of no known shape answers 404 naming the routes.
Repeated query keys (``?category=a&category=b``: payload 1.0's
``multiValueQueryStringParameters``, 2.0's ``rawQueryString`` or comma-joined values) give the
filters ``GET /api/recommend/{user}`` gives. ``isBase64Encoded`` bodies are decoded. Bad input
answers 400 (not a request: no event, not UTF-8, not base64) or 422 (bad JSON, wrong types,
bad values) with a message naming the problem; an unexpected error answers 500 and is logged.

The recommender is built once per container from the settings (``SKYBRIDGE__RECOMMEND__*``,
``SKYBRIDGE__BACKENDS__*``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.functions import function_payload
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.recommend.events import parse_event
from skybridge.apps.recommend.generative import generate
from skybridge.apps.recommend.manifest import APP
from skybridge.apps.recommend.ranking import check_categories, recommend
from skybridge.apps.recommend.service import Recommender, shared_recommender
from skybridge.core.errors import NotFound, SkybridgeError, ValidationError, shown
from skybridge.core.observability import get_logger

log = get_logger(__name__)

#: Path parameter names API Gateway may carry the user in (``/{user}``, ``/{user_id}``...).
USER_PARAMETERS = ("user", "user_id", "userId")
#: Path segments that name a route, never a user.
ROUTE_WORDS = frozenset(
    {"recommend", "recommendations", "getrecommendations", "users", "user", "events",
     "generate", "profile", "status", "versions", "metrics", "train"}
)  # fmt: skip
ROUTES = (
    "GET <route>/{user}, POST <route>/{user}/generate, POST <route>/events, or name the user "
    "in a {user} path parameter or the body's user_id"
)


class BadRequest(ValidationError):
    """The request itself is unusable (no event, a body that is not UTF-8 or not base64)."""

    http_status = 400


@dataclass(frozen=True)
class Call:
    """One request: method, path segments, query, body and the user the gateway named.

    ``segments`` is the whole path (the function's route and any prefix included); ``user`` is
    the user from a path parameter, when the gateway sent one; ``literal`` is true when the
    gateway's route template names no user, so the path holds none."""

    method: str
    segments: list[str]
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None
    user: str | None = None
    literal: bool = False


def engine() -> Recommender:
    return shared_recommender(AppContext.create(APP, load_settings([APP])))


def answer(call: Call, recommender: Recommender | None = None) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON body)`` for ``call``; errors become their status and message."""
    try:
        return 200, _dispatch(call, recommender)
    except SkybridgeError as exc:
        return _error(exc)


def _error(exc: SkybridgeError) -> tuple[int, dict[str, Any]]:
    return exc.http_status, {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}


def _dispatch(call: Call, rec: Recommender | None) -> dict[str, Any]:
    if call.body is not None and not isinstance(call.body, Mapping):
        raise ValidationError(f"the request body must be a JSON object, got {shown(call.body)}")
    body: Mapping[str, Any] = call.body or {}
    last = call.segments[-1] if call.segments else ""
    if call.method == "POST" and (last == "events" or "events" in body):
        events = [parse_event(e) for e in _events(body)]
        if any(e.kind == "rec_served" for e in events):
            raise ValidationError("rec_served events are published by the serving path")
        return {"published": (rec or engine()).publish(events)}
    user = call.user
    user = _body_user(body) if user is None else user
    user = _path_user(call) if user is None else user
    if user is None:
        raise ValidationError('name a user: GET <route>/<user> or {"user_id": "U123"}')
    k = _int(_last(call.query, "k", body.get("k")))
    given = call.query.get("category", body.get("category"))
    categories = () if given is None else check_categories(given)
    if last == "generate" or body.get("generate") is True:
        context = body.get("context", "")
        if not isinstance(context, str):
            raise ValidationError(f"context must be text, got {shown(context)}")
        found = generate(rec or engine(), user, context=context, k=k, categories=categories)
        return found.to_dict()
    segment = _last(call.query, "segment", body.get("segment"))
    if segment is not None and not isinstance(segment, str):
        raise ValidationError(f"segment must be text, got {shown(segment)}")
    return recommend(rec or engine(), user, k=k, categories=categories, segment=segment).to_dict()


def _body_user(body: Mapping[str, Any]) -> Any:
    named = [body[key] for key in ("user_id", "user") if body.get(key) not in (None, "")]
    if len(named) == 2 and named[0] != named[1]:
        raise ValidationError(f"user_id {shown(named[0])} and user {shown(named[1])} differ")
    return named[0] if named else None


def _path_user(call: Call) -> str | None:
    """The user of ``<route>/<user>`` or ``<route>/<user>/generate``; None for the bare route.

    Raises:
        NotFound: the path has another shape (a route word where the user would be).
    """
    generating = call.segments[-1:] == ["generate"]
    segments = call.segments[:-1] if generating else call.segments
    if call.literal or not segments:
        return None
    if segments[-1].lower() in ROUTE_WORDS:
        if len(segments) == 1 and not generating:  # the bare route: the body names the user
            return None
        path = "/" + "/".join(call.segments)
        raise NotFound(f"no route for {call.method} {path}", hint=f"the routes are {ROUTES}")
    return segments[-1] if len(segments) >= 2 else None  # one segment is the route itself


def _last(query: Mapping[str, list[str]], key: str, default: Any) -> Any:
    """The last value of ``key`` (as FastAPI takes a repeated single-valued parameter)."""
    values = query.get(key)
    return values[-1] if values else default


def _events(body: Mapping[str, Any]) -> list[Any]:
    events = body.get("events", [body] if body.get("kind") else None)
    if not isinstance(events, list) or not 1 <= len(events) <= 1000:
        raise ValidationError('send {"events": [...]} with 1 to 1000 events')
    return events


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value)
    raise ValidationError(f"k must be a whole number, got {shown(value)}")


def _text(data: Any, base64_encoded: bool = False) -> str | None:
    """The body as text: a byte stream, bytes or text, base64-decoded when marked so."""
    data = function_payload(data)
    if data is None:
        return None
    if base64_encoded:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise BadRequest("the body is marked isBase64Encoded but is not base64") from None
    if isinstance(data, bytes | bytearray):
        try:
            return bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the request body is not UTF-8 text ({exc.reason})") from None
    if isinstance(data, str):
        return data
    raise BadRequest(f"the request body is not text, got {type(data).__name__}")


def _body(data: Any, base64_encoded: bool = False) -> Any:
    if isinstance(data, Mapping | list):
        return data
    text = _text(data, base64_encoded)
    if text is None or not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"the request body is not JSON: {exc}") from None


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _respond(build: Callable[[], Call]) -> tuple[int, dict[str, Any]]:
    """``answer(build())`` with every error a status: never a raw exception."""
    try:
        return answer(build())
    except SkybridgeError as exc:
        return _error(exc)
    except Exception as exc:  # a bug or an untranslated backend error: logged, not shown
        log.exception("recommend.handler_failed", error_type=type(exc).__name__)
        return 500, {"error": "InternalError", "message": "the request failed; see the logs"}


def _oci_call(ctx: Any, data: Any) -> Call:
    url = ctx.RequestURL() if hasattr(ctx, "RequestURL") else ""
    method = ctx.Method() if hasattr(ctx, "Method") else "POST"
    parts = urlsplit(url or "")
    query = parse_qs(parts.query, keep_blank_values=True)
    return Call((method or "POST").upper(), _segments(parts.path), query, _body(data))


def oci_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions (fdk-style), behind API Gateway or invoked directly; returns JSON text."""
    status, result = _respond(lambda: _oci_call(ctx, data))
    if hasattr(ctx, "SetResponseHeaders"):
        ctx.SetResponseHeaders({"Content-Type": "application/json"}, status)
    return json.dumps(result)


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise BadRequest(f"{name} must be an object, got {shown(value)}")
    return value


def _query(event: Mapping[str, Any], v2: bool) -> dict[str, list[str]]:
    """Every value of every query key, as the HTTP service reads a query string."""
    raw = event.get("rawQueryString")
    if v2 and isinstance(raw, str):
        return parse_qs(raw, keep_blank_values=True)
    multi = _mapping(
        event.get("multiValueQueryStringParameters"), "multiValueQueryStringParameters"
    )
    single = _mapping(event.get("queryStringParameters"), "queryStringParameters")
    query: dict[str, list[str]] = {}
    for key, value in {**single, **multi}.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str) for v in values):
            raise BadRequest(f"query parameter {key!r} is not text")
        # payload 2.0 joins a repeated key's values with commas
        query[str(key)] = [p for v in values for p in v.split(",")] if v2 else list(values)
    return query


def _gateway_call(event: Mapping[str, Any]) -> Call:
    context = _mapping(event.get("requestContext"), "requestContext")
    v2 = event.get("version") == "2.0" or "rawPath" in event
    http = _mapping(context.get("http"), "requestContext.http")
    method = event.get("httpMethod") or http.get("method") or "GET"
    path = event.get("rawPath") or event.get("path") or ""
    if not isinstance(method, str) or not isinstance(path, str):
        raise BadRequest("httpMethod and path must be text")
    params = _mapping(event.get("pathParameters"), "pathParameters")
    user = next((params[k] for k in USER_PARAMETERS if params.get(k)), None)
    if user is not None and not isinstance(user, str):
        raise BadRequest(f"the path parameter user is not text: {shown(user)}")
    template = str(event.get("resource") or event.get("routeKey") or "{")
    literal = "{" not in template and template != "$default"
    body = _body(event.get("body"), event.get("isBase64Encoded") is True)
    query = _query(event, v2)
    return Call(method.upper(), _segments(path), query, body, user, literal)


def _is_gateway(event: Mapping[str, Any]) -> bool:
    return any(k in event for k in ("httpMethod", "rawPath", "requestContext", "routeKey"))


def _lambda_call(event: Any) -> Call:
    if not isinstance(event, Mapping):
        raise BadRequest(f"expected an API Gateway proxy event (an object), got {shown(event)}")
    if not _is_gateway(event):  # a direct invoke: the event is the body
        return Call("POST", [], {}, dict(event))
    return _gateway_call(event)


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """AWS Lambda behind API Gateway (REST or HTTP API proxy integration)."""
    status, result = _respond(lambda: _lambda_call(event))
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(result),
    }

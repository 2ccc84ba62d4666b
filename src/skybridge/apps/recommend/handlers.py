"""Cloud entry points of the serving path, as in the original design (API Gateway + Functions).

* ``oci_handler(ctx, data)``: OCI Functions (fdk-style) behind OCI API Gateway. ``GET
  <route>/<user>?k=5&category=running&segment=eu`` answers recommendations; ``POST
  <route>/events`` with ``{"events": [...]}`` publishes feedback; ``POST <route>/<user>/generate``
  with ``{"context": "..."}`` asks the language model. Invoked directly (no gateway), ``data`` is
  ``{"user": "U123", "k": 5}`` or ``{"events": [...]}``. Returns JSON text and sets the HTTP
  status through ``ctx.SetResponseHeaders`` when the context has it.
* ``lambda_handler(event, context)``: the same on AWS Lambda behind API Gateway (REST or HTTP
  API proxy events), returning ``{"statusCode", "headers", "body"}``.

The recommender is built once per container from the settings (``SKYBRIDGE__RECOMMEND__*``,
``SKYBRIDGE__BACKENDS__*``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.recommend.events import parse_event
from skybridge.apps.recommend.generative import generate
from skybridge.apps.recommend.manifest import APP
from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Recommender, shared_recommender
from skybridge.core.errors import SkybridgeError, ValidationError


@dataclass(frozen=True)
class Call:
    """One request: method, path segments after the function's route, query and body."""

    method: str
    segments: list[str]
    query: dict[str, list[str]] = field(default_factory=dict)
    body: Any = None


def engine() -> Recommender:
    return shared_recommender(AppContext.create(APP, load_settings([APP])))


def answer(call: Call, recommender: Recommender | None = None) -> tuple[int, dict[str, Any]]:
    """``(HTTP status, JSON body)`` for ``call``; errors become their status and message."""
    try:
        return 200, _dispatch(call, recommender or engine())
    except SkybridgeError as exc:
        return exc.http_status, {
            "error": type(exc).__name__,
            "message": exc.message,
            "hint": exc.hint,
        }


def _dispatch(call: Call, rec: Recommender) -> dict[str, Any]:
    body = call.body if isinstance(call.body, dict) else {}
    if call.method == "POST" and (call.segments[-1:] == ["events"] or "events" in body):
        events = [parse_event(e) for e in _events(body)]
        if any(e.kind == "rec_served" for e in events):
            raise ValidationError("rec_served events are published by the serving path")
        return {"published": rec.publish(events)}
    user = body.get("user") or (call.segments[-2] if call.segments[-1:] == ["generate"] else "")
    user = user or (call.segments[-1] if call.segments else "")
    if not user:
        raise ValidationError('name a user: GET <route>/<user> or {"user": "U123"}')
    k = _int(call.query["k"][0] if "k" in call.query else body.get("k"))
    if call.segments[-1:] == ["generate"] or body.get("generate"):
        return generate(rec, user, context=str(body.get("context") or ""), k=k).to_dict()
    categories = call.query.get("category") or body.get("category") or []
    segment = call.query["segment"][0] if "segment" in call.query else body.get("segment")
    return recommend(rec, user, k=k, categories=categories, segment=segment).to_dict()


def _events(body: dict[str, Any]) -> list[Any]:
    events = body.get("events", [body] if body.get("kind") else None)
    if not isinstance(events, list) or not 1 <= len(events) <= 1000:
        raise ValidationError('send {"events": [...]} with 1 to 1000 events')
    return events


def _int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"k must be a whole number, got {value!r}") from None


def _body(data: Any) -> Any:
    if hasattr(data, "read"):
        data = data.read()
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode()
    if isinstance(data, str):
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise ValidationError("the request body is not JSON") from None
    return data


def oci_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions (fdk-style), behind API Gateway or invoked directly; returns JSON text."""
    try:
        url = ctx.RequestURL() if hasattr(ctx, "RequestURL") else ""
        method = ctx.Method() if hasattr(ctx, "Method") else "POST"
        parts = urlsplit(url or "")
        call = Call(
            (method or "POST").upper(),
            [s for s in parts.path.split("/") if s][1:],
            parse_qs(parts.query),
            _body(data),
        )
        status, result = answer(call)
    except SkybridgeError as exc:
        status, result = exc.http_status, {"message": exc.message, "hint": exc.hint}
    if hasattr(ctx, "SetResponseHeaders"):
        ctx.SetResponseHeaders({"Content-Type": "application/json"}, status)
    return json.dumps(result)


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda behind API Gateway (REST or HTTP API proxy integration)."""
    try:
        method = event.get("httpMethod") or event.get("requestContext", {}).get("http", {}).get(
            "method", "GET"
        )
        path = event.get("rawPath") or event.get("path") or ""
        query = {k: [v] for k, v in (event.get("queryStringParameters") or {}).items()}
        call = Call(
            method.upper(), [s for s in path.split("/") if s][1:], query, _body(event.get("body"))
        )
        status, result = answer(call)
    except SkybridgeError as exc:
        status, result = exc.http_status, {"message": exc.message, "hint": exc.hint}
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(result),
    }

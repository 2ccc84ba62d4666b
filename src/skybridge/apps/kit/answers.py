"""The JSON answer every route gives, the service's default and what a route returning its
own response (a 202 with a ``Location``, a 409 with a body of its own) builds."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import TypeAdapter

from skybridge.core.locations import HIDDEN_FOR, hide_in


class SafeJSONResponse(JSONResponse):
    """JSON as Starlette writes it, but text holding a lone surrogate (a JSON body may carry
    ``"\\ud800"``, and an answer may repeat it: "no mapping called ...") is written as that
    escape instead of failing to encode (a 500 in place of the answer)."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


class ServiceJSONResponse(SafeJSONResponse):
    """A route's JSON answer: failure text rows carry (``core.locations.ERROR_KEYS``) without
    the host's folders for a caller without ``service:locations`` (see ``security.authorize``)."""

    def render(self, content: Any) -> bytes:
        hidden = HIDDEN_FOR.get()
        return super().render(content if hidden is None else hide_in(content, hidden))


def rendered(content: Any, model: TypeAdapter[Any]) -> ServiceJSONResponse:
    """``content`` checked and serialized as the route's response ``model`` and rendered now,
    for a plain-function route whose answer can be large.

    FastAPI serializes and renders what such a route returns on the event loop, which
    ``/healthz`` and every other request share: 15-20 ms for 6,000 anomaly points, so a burst
    of such requests held the loop for hundreds of milliseconds. Called in the route, all of it
    happens in the route's worker thread. Keep ``response_model`` on the route: it still
    documents the answer.
    """
    return ServiceJSONResponse(model.dump_python(model.validate_python(content), mode="json"))

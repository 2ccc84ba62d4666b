"""The JSON answer every route gives, the service's default and what a route returning its
own response (a 202 with a ``Location``, a 409 with a body of its own) builds."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from skybridge.core.locations import HIDDEN_FOR, hide_in


class ServiceJSONResponse(JSONResponse):
    """A route's JSON answer: failure text rows carry (``core.locations.ERROR_KEYS``) without
    the host's folders for a caller without ``service:locations`` (see ``security.authorize``)."""

    def render(self, content: Any) -> bytes:
        hidden = HIDDEN_FOR.get()
        return super().render(content if hidden is None else hide_in(content, hidden))

"""The request body cap: checked on ``Content-Length`` up front and counted while streaming.

The limit is ``server.max_body_bytes`` unless the matched route declares its own with
:class:`skybridge.apps.kit.limits.BodyLimit`. A body announced too large is refused before any
of it is read; a chunked body is counted as it arrives and refused at the first chunk over the
limit, so no more than the limit (plus one chunk) is ever held in memory. A route that reads no
body gets the ``Content-Length`` check too, from :func:`announced_body_fits`, a dependency of
every route.
"""

from __future__ import annotations

from typing import Any

import anyio
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import Message, Receive, Scope

from skybridge.apps.kit.limits import BodyLimit

#: The ``error`` of a 413 answer (RFC 9110 calls the status "Content Too Large").
KIND = "ContentTooLarge"


def describe_bytes(size: int) -> str:
    """``size`` for people: ``1 MiB``, ``512 KiB``, ``1500 bytes``."""
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


class BodyTooLarge(HTTPException):
    """The request body exceeds the route's limit (answered 413 with a JSON body)."""

    def __init__(self, limit: int, *, declared: bool = False) -> None:
        super().__init__(413, too_large_message(limit, declared=declared))
        self.limit = limit


class BodyTimeout(HTTPException):
    """The client stopped sending its body for longer than ``server.body_timeout`` (408)."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            f"the request body stopped arriving for {timeout:g} s; send the whole body "
            "without pausing (the operator sets the wait with server.body_timeout)",
        )


def too_large_message(limit: int, *, declared: bool = False) -> str:
    """What a client sending too large a body is told (``declared``: the route's own limit,
    not the service's ``server.max_body_bytes``)."""
    where = "" if declared else " (the operator sets the limit with server.max_body_bytes)"
    return (
        f"the request body is over this route's limit of {describe_bytes(limit)} "
        f"({limit} bytes); send a smaller body or split the request{where}"
    )


def declared_limit(route: Any) -> int | None:
    """The body limit ``route`` declares: its largest :class:`BodyLimit` dependency, else
    FastAPI's own ``max_body_size`` route option (on FastAPI versions that have it)."""
    limits: list[int] = [
        dep.dependency.max_bytes
        for dep in getattr(route, "dependencies", None) or ()
        if isinstance(getattr(dep, "dependency", None), BodyLimit)
    ]
    if limits:
        return max(limits)
    native = getattr(route, "max_body_size", None)
    return native if isinstance(native, int) and not isinstance(native, bool) else None


def announced_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, or ``None`` when absent (chunked) or unreadable."""
    value = Headers(scope=scope).get("content-length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def capped_receive(
    scope: Scope, receive: Receive, default: int, timeout: float | None = None
) -> Receive:
    """``receive`` that refuses, with :class:`BodyTooLarge`, a body over the route's limit,
    and with :class:`BodyTimeout` a body that stops arriving for ``timeout`` seconds.

    The limit is resolved when the app first asks for the body: by then the router has put the
    matched route in ``scope``. An announced ``Content-Length`` over it is refused before a
    byte is read; otherwise bytes are counted as they arrive. Once the body is complete, the
    app may wait for the client's disconnect as long as it likes.
    """
    limit: int | None = None
    declared = False
    received = 0
    complete = False

    async def receive_capped() -> Message:
        nonlocal limit, declared, received, complete
        if limit is None:
            own = declared_limit(scope.get("route"))
            limit, declared = (default, False) if own is None else (own, True)
            length = announced_length(scope)
            if length is not None and length > limit:
                raise BodyTooLarge(limit, declared=declared)
        if complete or timeout is None:
            message = await receive()
        else:
            try:
                with anyio.fail_after(timeout):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(timeout) from None
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            complete = not message.get("more_body", False)
            if received > limit:
                raise BodyTooLarge(limit, declared=declared)
        return message

    return receive_capped


async def announced_body_fits(request: Request) -> None:
    """Refuse (413) a ``Content-Length`` over the matched route's limit, also where the route
    reads no body and would otherwise take it unread. (A route that reads its body has already
    been refused by :func:`capped_receive` when this runs.)"""
    length = announced_length(request.scope)
    if length is None:
        return
    own = declared_limit(request.scope.get("route"))
    default: int = request.app.state.skybridge.settings.server.max_body_bytes
    limit = default if own is None else own
    if length > limit:
        raise BodyTooLarge(limit, declared=own is not None)

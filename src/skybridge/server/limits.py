"""Request limits, enforced before the app reads a byte of the body.

:class:`RequestGuard` is a pure ASGI middleware (it never buffers a body). For every request
except ``/healthz`` and ``/metrics`` it, in order:

1. authenticates ``/api`` requests from the ``Authorization`` header alone, through the
   service's token store (hash compared in constant time), and answers 401 otherwise, so an
   unauthenticated body is never read or parsed;
2. rate-limits: a token bucket per API token, and per client address for requests without a
   valid token (dashboard pages, ``/login``, ``/docs``, failed authentication): 429 with
   ``Retry-After``;
3. admits at most ``worker_threads + worker_queue`` requests at once; the next ones are answered
   503 with ``Retry-After`` at once instead of queueing without bound. Requests with neither
   a valid API token nor an active dashboard session (``/login``, ``/docs``, the cookie of a
   revoked token) hold at most half of those slots together, and ``anonymous_in_progress`` per
   client address (beyond: 429), so clients that have not signed in cannot keep those who
   have out;
4. caps the body at ``server.max_body_bytes`` or the route's :class:`BodyLimit` (413); a
   route that reads no body is held to it by ``bodycap.announced_body_fits``; a body that
   stops arriving for ``server.body_timeout`` seconds is answered 408 (a client trickling
   bytes keeps its slot: the per-address cap above bounds how many it can hold).

Blocking work of sync routes runs in AnyIO's default thread pool, sized ``worker_threads``
here; ``/healthz`` and ``/metrics`` are async and never wait for a worker thread. Token checks
run in a lane of their own (:mod:`.lanes`) so a full worker pool does not delay a 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from skybridge.auth.tokens import Principal
from skybridge.core.config import ServerConfig
from skybridge.core.errors import SkybridgeError, TransientError
from skybridge.server.bodycap import KIND, BodyTimeout, BodyTooLarge, capped_receive
from skybridge.server.errors import error_response
from skybridge.server.lanes import AUTH_LANE, size_worker_pool
from skybridge.server.ratelimit import BucketTable, Decision
from skybridge.server.session import SESSION_COOKIE

#: Answered without limits, authentication or admission: probes and scrapers must get through.
EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})
#: Read-only API routes the dashboard's scripts call with the session cookie (no token to send):
#: without a bearer token they are let through to the route, which checks the session.
SESSION_READABLE = frozenset({("GET", "/api/metrics/history")})
#: Where the middleware leaves the principal of the token it verified, for the route's check.
VERIFIED = "skybridge_verified"
MISSING_TOKEN = "missing API token: send 'Authorization: Bearer <token>'"  # noqa: S105
UNKNOWN_TOKEN = "the API token is unknown or revoked"  # noqa: S105
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def is_api(path: str) -> bool:
    """Whether ``path`` is under ``/api`` (bearer token required)."""
    return path == "/api" or path.startswith("/api/")


def bearer_token(scope: Scope) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, else ``None``."""
    scheme, _, token = (Headers(scope=scope).get("authorization") or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def client_address(scope: Scope) -> str:
    """The client's address (a trusted proxy's ``X-Forwarded-For`` already applied)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def unauthorized(message: str) -> Response:
    return error_response(401, "Unauthorized", message, dict(_CHALLENGE))


def _retry_later(decision: Decision, why: str) -> Response:
    """A 429 saying ``why`` and when to retry (also in ``Retry-After``)."""
    message = f"{why}; retry after {decision.retry_after} s"
    return error_response(
        429, "TooManyRequests", message, {"Retry-After": str(decision.retry_after)}
    )


def too_many(decision: Decision, who: str, table: BucketTable) -> Response:
    return _retry_later(
        decision,
        f"rate limit reached: {table.burst} requests at once and {table.rate:g} per second "
        f"for each {who}",
    )


def address_blocked(decision: Decision, table: BucketTable) -> Response:
    """A token sent from an address that has used up its allowance of requests without a
    valid token: the token is not checked until the address may try again."""
    return _retry_later(
        decision,
        f"this client address sent more requests without a valid token than allowed "
        f"({table.burst} at once, {table.rate:g} per second), so no token from it is checked "
        f"until it may try again",
    )


def overloaded(anonymous: bool = False) -> Response:
    if anonymous:
        message = (
            "the service is at capacity for requests without an API token (half of "
            "server.worker_threads + server.worker_queue); retry in a second"
        )
    else:
        message = (
            "the service is at capacity (server.worker_threads busy and server.worker_queue "
            "requests waiting); retry in a second"
        )
    return error_response(503, "ServiceUnavailable", message, {"Retry-After": "1"})


def address_busy(limit: int) -> Response:
    message = (
        f"this client address already has {limit} requests without an API token in progress "
        "(server.anonymous_in_progress); retry when one has finished"
    )
    return error_response(429, "TooManyRequests", message, {"Retry-After": "1"})


def store_error(exc: SkybridgeError) -> Response:
    """The answer when the token store itself fails (e.g. its database is unreachable)."""
    headers = {}
    if isinstance(exc, TransientError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after or 1)))
    return error_response(exc.http_status, type(exc).__name__, str(exc), headers, hint=exc.hint)


async def signed_in(scope: Scope) -> bool:
    """Whether the request carries a dashboard session cookie this service signed whose token is
    still active. A cookie of a revoked or deleted token counts as no session: it would
    otherwise keep a signed-in user's admission (no per-address cap) for the cookie's life."""
    if not Request(scope).cookies.get(SESSION_COOKIE):
        return False
    from skybridge.server.security import current_session  # imports this module

    return await AUTH_LANE.run(current_session, Request(scope)) is not None


class Admission:
    """Counts requests in progress and refuses a new one once ``capacity`` are. Requests without
    a valid API token or an active session (``address`` given) may hold ``capacity // 2``
    slots together and ``per_address`` each address. Runs on the event loop only: no locks."""

    def __init__(self, capacity: int, per_address: int | None = None) -> None:
        self.capacity = capacity
        self.anonymous_capacity = max(1, capacity // 2)
        self.per_address = per_address or capacity
        self.in_progress = 0
        self.anonymous = 0
        self.by_address: dict[str, int] = {}

    def enter(self, address: str | None = None) -> Response | None:
        """``None`` when admitted (call :meth:`leave` with the same address), else the answer."""
        if self.in_progress >= self.capacity:
            return overloaded()
        if address is not None:
            if self.by_address.get(address, 0) >= self.per_address:
                return address_busy(self.per_address)
            if self.anonymous >= self.anonymous_capacity:
                return overloaded(anonymous=True)
            self.anonymous += 1
            self.by_address[address] = self.by_address.get(address, 0) + 1
        self.in_progress += 1
        return None

    def leave(self, address: str | None = None) -> None:
        self.in_progress -= 1
        if address is not None:
            self.anonymous -= 1
            left = self.by_address[address] - 1
            if left:
                self.by_address[address] = left
            else:
                del self.by_address[address]


class RequestGuard:
    """Pure ASGI middleware: authentication before the body, rate limits, admission, body cap.

    Args:
        app: The wrapped application.
        config: The ``[server]`` settings (limits, pool sizes).
        clock: Monotonic seconds for the rate limits (tests pass their own).
    """

    def __init__(
        self, app: ASGIApp, config: ServerConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.config = config
        self.per_token = BucketTable(
            config.token_rate_per_second, config.token_rate_burst, clock=clock
        )
        self.per_address = BucketTable(
            config.anonymous_rate_per_second, config.anonymous_rate_burst, clock=clock
        )
        self.admission = Admission(
            config.worker_threads + config.worker_queue, config.anonymous_in_progress
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        size_worker_pool(self.config.worker_threads)
        refusal = await self.refusal(scope)
        known = refusal is None and await self.known(scope)
        address = None if known else client_address(scope)
        if refusal is None:
            refusal = self.admission.enter(address)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            capped = capped_receive(
                scope, receive, self.config.max_body_bytes, self.config.body_timeout
            )
            await self.app(scope, capped, send)
        finally:
            self.admission.leave(address)

    @staticmethod
    async def known(scope: Scope) -> bool:
        """Whether the request comes from a signed-in caller: a valid API token, or a dashboard
        session whose token is still active."""
        if VERIFIED in scope.get("state", {}):
            return True
        try:
            return await signed_in(scope)
        except SkybridgeError:
            return False  # the token store is failing: the page answers that itself

    async def refusal(self, scope: Scope) -> Response | None:
        """The answer that stops this request before the app, or ``None`` to let it in."""
        address = client_address(scope)
        if not is_api(scope["path"]):
            return self._spend_address(address)
        token = bearer_token(scope)
        if token is None and (scope["method"], scope["path"]) in SESSION_READABLE:
            return self._spend_address(address)
        if token is None:
            return self._spend_address(address) or unauthorized(MISSING_TOKEN)
        blocked = self.per_address.check(address)
        if not blocked.allowed:
            return address_blocked(blocked, self.per_address)
        try:
            principal = await self._verify(scope, token)
        except SkybridgeError as exc:
            return store_error(exc)
        if principal is None:
            return self._spend_address(address) or unauthorized(UNKNOWN_TOKEN)
        scope.setdefault("state", {})[VERIFIED] = (token, principal)
        decision = self.per_token.take(f"{principal.kind}:{principal.name}")
        return None if decision.allowed else too_many(decision, "API token", self.per_token)

    def _spend_address(self, address: str) -> Response | None:
        decision = self.per_address.take(address)
        if decision.allowed:
            return None
        return too_many(decision, "client address without a valid token", self.per_address)

    @staticmethod
    async def _verify(scope: Scope, token: str) -> Principal | None:
        tokens: Any = scope["app"].state.skybridge.tokens
        principal: Principal | None = await AUTH_LANE.run(tokens.verify, token)
        return principal


async def _body_too_large(request: Request, exc: Exception) -> Response:
    # The connection stays open: the server discards the rest of the body as it arrives (no
    # memory held), and a client still sending it can read this answer instead of a reset.
    assert isinstance(exc, BodyTooLarge)
    return error_response(413, KIND, str(exc.detail))


async def _body_timeout(request: Request, exc: Exception) -> Response:
    # The rest of the body may still come: the connection cannot carry another request.
    assert isinstance(exc, BodyTimeout)
    return error_response(408, "RequestTimeout", str(exc.detail), {"Connection": "close"})


def install_limits(app: FastAPI, config: ServerConfig) -> None:
    """Add :class:`RequestGuard` (call before the access log's middleware, so it logs 4xx/503)
    and the JSON answers for bodies over their limit or too slow to arrive."""
    app.add_middleware(RequestGuard, config=config)
    app.add_exception_handler(BodyTooLarge, _body_too_large)
    app.add_exception_handler(BodyTimeout, _body_timeout)

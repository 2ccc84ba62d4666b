"""Who is calling: bearer tokens for ``/api/*``, the signed session cookie for the dashboard."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from skybridge.apps.kit.access import ScopeCheck
from skybridge.auth.tokens import Principal
from skybridge.core.locations import HIDDEN_FOR
from skybridge.server.errors import LoginRequired
from skybridge.server.lanes import AUTH_LANE
from skybridge.server.session import SESSION_COOKIE, SESSION_MAX_AGE, Session, safe_equal
from skybridge.server.state import get_state, locations_hidden

bearer = HTTPBearer(
    auto_error=False,
    description="An API token (`skybridge token create NAME`) or `server.admin_token`.",
)
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """FastAPI dependency for ``/api/*``: the principal of a valid bearer token, else 401.

    A coroutine: the request guard has already verified the token (off the event loop), so this
    only reads its answer; only a request that bypassed the guard looks the token up, in the
    auth lane.
    """
    if credentials is None:
        raise HTTPException(
            401, "missing API token: send 'Authorization: Bearer <token>'", headers=_CHALLENGE
        )
    verified = getattr(request.state, "skybridge_verified", None)  # by the limits middleware
    if verified is not None and verified[0] == credentials.credentials:
        principal: Principal | None = verified[1]
    else:
        principal = await AUTH_LANE.run(get_state(request).tokens.verify, credentials.credentials)
    if principal is None:
        raise HTTPException(401, "the API token is unknown or revoked", headers=_CHALLENGE)
    authorize(request, principal)
    return principal


def authorize(request: Request, principal: Principal) -> None:
    """Leave who is calling, and what it may do, for the scope checks of the routes."""
    catalog = get_state(request).scopes
    request.state.principal = principal
    request.state.allows = partial(catalog.allows, principal.grant)
    # what this caller's JSON answers leave out (set in the request's own context)
    HIDDEN_FOR.set(locations_hidden(request))


#: Where a request keeps what :func:`current_session` found (the admission guard asks first,
#: the page again: the token store is read once).
_SESSION_FOUND = "skybridge_session"


def current_session(request: Request) -> Session | None:
    """The dashboard session of ``request``, if its cookie is valid and its token still active.

    The cookie carries a fingerprint of the token it was opened with, so revoking, deleting or
    replacing that token (even under a reused row id) ends every session it opened. The answer
    is kept for the rest of the request.
    """
    kept = request.scope.setdefault("state", {})
    if _SESSION_FOUND not in kept:
        kept[_SESSION_FOUND] = _session_of(request)
    found: Session | None = kept[_SESSION_FOUND]
    return found


def _session_of(request: Request) -> Session | None:
    state = get_state(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    payload = state.signer.loads("session", cookie, max_age=SESSION_MAX_AGE)
    session = Session.from_payload(payload) if payload else None
    if session is None:
        return None
    found = state.tokens.active(session.principal)
    if found is None or not isinstance(session.fingerprint, str):
        return None
    current, principal = found
    if not safe_equal(session.fingerprint, state.signer.fingerprint(current)):
        return None
    return replace(session, principal=principal)


def require_session(request: Request) -> Session:
    """FastAPI dependency for dashboard pages: the session, or a redirect to ``/login``."""
    session = current_session(request)
    if session is None:
        raise LoginRequired
    authorize(request, session.principal)
    return session


def allowed(request: Request, scope: str) -> bool:
    """Whether the caller (after :func:`require_token` or :func:`require_session`) may use
    ``scope``."""
    allows = getattr(request.state, "allows", None)
    return bool(allows is not None and allows(scope))


def need(request: Request, scope: str) -> None:
    """Refuse the request (403) unless the caller may use ``scope``."""
    ScopeCheck(scope).check(request)


def check_csrf(session: Session, submitted: str | None) -> None:
    """Reject a dashboard form whose CSRF field does not match the session's."""
    if not session.csrf_ok(submitted):
        raise HTTPException(403, "the form is stale or was not sent by this dashboard; reload it")

"""The service's own JSON API under ``/api``: who am I, backend health, API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from skybridge.apps.kit.access import document_scopes, requires
from skybridge.apps.kit.errors import pattern_rule
from skybridge.auth.tokens import NAME_PATTERN, Principal, TokenInfo
from skybridge.server.errors import ErrorBody
from skybridge.server.health import probe_shown
from skybridge.server.security import require_token
from skybridge.server.state import ServiceState, locations_hidden, service_state

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not valid JSON or not UTF-8"},
    401: {"model": ErrorBody, "description": "Missing, unknown or revoked token"},
    403: {"model": ErrorBody, "description": "The token does not hold the scope this needs"},
    413: {"model": ErrorBody, "description": "The body is larger than the route accepts"},
    422: {"model": ErrorBody, "description": "The request is malformed; the body says what to fix"},
    429: {"model": ErrorBody, "description": "Too many requests for this token; see Retry-After"},
    503: {"model": ErrorBody, "description": "The service is at capacity; see Retry-After"},
}
READ = [requires("service:read")]
MANAGE = [requires("tokens:manage")]
TOKEN_NAME = pattern_rule(
    NAME_PATTERN,
    "1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit",
)

router = APIRouter(
    prefix="/api", tags=["service"], dependencies=[Depends(require_token)], responses=AUTH_ERRORS
)
State = Annotated[ServiceState, Depends(service_state)]
Caller = Annotated[Principal, Depends(require_token)]


class WhoAmI(BaseModel):
    name: str = Field(description="The token's name")
    kind: Literal["token", "admin"]
    grant: list[str] = Field(description="The roles and scopes the token holds")
    scopes: list[str] = Field(description="Every scope the token may use")


class BackendOut(BaseModel):
    name: str
    setting: str = Field(description="The setting that configures it, e.g. backends.kv")
    scheme: str
    url: str = Field(description="The configured URL with credentials masked")
    status: Literal["ok", "unreachable", "misconfigured"]
    ok: bool
    latency_ms: float | None
    error: str | None
    message: str | None
    hint: str | None


class TokenOut(BaseModel):
    name: str
    prefix: str = Field(description="The first characters of the token, to tell tokens apart")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool
    scopes: list[str] = Field(description="Roles and scopes the token holds")


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=TOKEN_NAME, description="A unique name, e.g. ci-deploy")
    scopes: list[str] = Field(
        default=["read"],
        min_length=1,
        max_length=50,
        description="Roles (read, operate, admin) and/or scopes (e.g. assertions:apply); "
        "only ones the caller holds",
    )


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. It is shown only in this response.")


def _out(info: TokenInfo) -> TokenOut:
    return TokenOut(**info.as_dict())


@router.get(
    "/whoami", response_model=WhoAmI, summary="The token this request uses", dependencies=READ
)
def whoami(caller: Caller, state: State) -> WhoAmI:
    grant = sorted(caller.grant)
    return WhoAmI(
        name=caller.name,
        kind=caller.kind,
        grant=grant,
        scopes=state.scopes.granted_scopes(caller.grant),
    )


@router.get(
    "/backends",
    response_model=list[BackendOut],
    summary="Configured backends and health",
    dependencies=READ,
)
def backends(request: Request, state: State) -> list[BackendOut]:
    """File locations on the host are shown only with ``service:locations`` (admin)."""
    return [
        BackendOut(**status.as_dict())
        for status in probe_shown(state.settings, apps=state.apps, hidden=locations_hidden(request))
    ]


@router.get(
    "/tokens",
    response_model=list[TokenOut],
    summary="API tokens (never their values)",
    dependencies=MANAGE,
)
def list_tokens(state: State) -> list[TokenOut]:
    return [_out(info) for info in state.tokens.list()]


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=201,
    summary="Create a token (its value is returned once)",
    responses={409: {"model": ErrorBody, "description": "The name is taken"}},
    dependencies=MANAGE,
)
def create_token(body: TokenCreate, state: State, caller: Caller) -> TokenCreated:
    grant = state.scopes.check_grant(body.scopes, caller.grant)
    info, token = state.tokens.create(body.name, grant)
    return TokenCreated(**info.as_dict(), token=token.reveal())


@router.delete(
    "/tokens/{name}",
    response_model=TokenOut,
    summary="Revoke a token",
    responses={
        403: {"model": ErrorBody, "description": "The token holds more than the caller's"},
        404: {"model": ErrorBody, "description": "No active token has this name"},
    },
    dependencies=MANAGE,
)
def revoke_token(
    name: Annotated[str, Path(max_length=64)], state: State, caller: Caller
) -> TokenOut:
    target = next((t for t in state.tokens.list() if t.name == name and t.active), None)
    if target is not None:
        state.scopes.check_revoke(name, target.scopes, caller.grant)
    return _out(state.tokens.revoke(name))


document_scopes(router)

"""Scopes on routes: every route of an app declares the one scope it needs.

::

    @router.post("/apply", dependencies=[requires("assertions:apply")])
    def apply(body: ApplyRequest) -> ApplyResponse: ...

The service refuses to mount an app route without one. A scope names an action of the app
(``<app>:<action>``, declared with its granting role in the manifest) or one of skybridge's own
(``service:read``...). The surface authenticates the caller and leaves ``request.state.allows``
(``scope -> bool``) for these checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from skybridge.core.errors import PermissionDenied


@dataclass(frozen=True)
class ScopeCheck:
    """The dependency :func:`requires` adds: refuses callers without ``scope`` (403).

    A coroutine, so FastAPI runs it on the event loop: a check this cheap must not cost a trip
    through the worker thread pool (which, on a busy service, waits for the GIL).
    """

    scope: str

    async def __call__(self, request: Request) -> None:
        self.check(request)

    def check(self, request: Request) -> None:
        """Raise :class:`PermissionDenied` unless the caller may use the scope."""
        allows = getattr(request.state, "allows", None)
        if allows is None or not allows(self.scope):
            raise PermissionDenied(
                f"this needs the scope '{self.scope}', which your token does not have",
                hint="ask an admin for a token with it: skybridge token create NAME "
                f"--scope {self.scope}",
            )


def requires(scope: str) -> Any:
    """A route dependency: the caller's token must hold ``scope``."""
    return Depends(ScopeCheck(scope))


def route_scopes(route: Any) -> list[str]:
    """The scopes a route's dependencies require (empty: it declares none)."""
    return [
        dep.dependency.scope
        for dep in getattr(route, "dependencies", [])
        if isinstance(getattr(dep, "dependency", None), ScopeCheck)
    ]


def document_scopes(router: Any) -> None:
    """Name each route's scope in the OpenAPI schema (``x-required-scope``)."""
    for route in getattr(router, "routes", []):
        scopes = route_scopes(route)
        if scopes and hasattr(route, "openapi_extra"):
            route.openapi_extra = {**(route.openapi_extra or {}), "x-required-scope": scopes[0]}

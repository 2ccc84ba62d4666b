"""The full path template of each route the service serves, for metrics and the access log.

FastAPI may keep the routes of a router included with a prefix as they were declared
(``/{user}``, not ``/api/recommend/{user}``) and put that route in ``scope["route"]``; so each
router's templates are recorded, prefix and all, as it is included
(:meth:`.headers.ServiceApp.include_router`).
"""

from __future__ import annotations

import re

from starlette.routing import BaseRoute, compile_path


def template_of(route: object) -> str | None:
    """A route's own ``path`` (a template), if it has one."""
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else None


class RouteTemplates:
    """The full template of every route included through :meth:`add`, prefix and all."""

    def __init__(self) -> None:
        self._by_route: dict[int, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    def add(self, routes: list[BaseRoute], prefix: str = "") -> None:
        for route in routes:
            path = template_of(route)
            if path is not None and id(route) not in self._by_route:
                template = prefix + path
                self._by_route[id(route)] = template
                self._patterns.append((compile_path(template)[0], template))

    def of_route(self, route: object) -> str | None:
        """The template of the route FastAPI matched (``scope["route"]``)."""
        return self._by_route.get(id(route)) or template_of(route)

    def of_path(self, path: str) -> str | None:
        """The template whose pattern ``path`` matches (a request refused before routing)."""
        return next((t for pattern, t in self._patterns if pattern.match(path)), None)

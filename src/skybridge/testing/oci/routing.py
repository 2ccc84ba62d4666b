"""Requests, responses and the route table that maps OCI REST paths to operation names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from skybridge.testing.oci.errors import ApiError, invalid


@dataclass
class Request:
    """One HTTP request as the emulator sees it (header names lower-cased)."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, str]:
        raw = self.target.split("?", 1)[1] if "?" in self.target else ""
        return {key: values[-1] for key, values in parse_qs(raw, keep_blank_values=True).items()}

    def json(self) -> dict[str, Any]:
        """The body parsed as a JSON object; a malformed one is a 400 like the real service."""
        if not self.body:
            return {}
        try:
            data = json.loads(self.body)
        except ValueError as exc:
            raise invalid(f"Request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise invalid("Request body must be a JSON object")
        return data

    def int_query(self, name: str) -> int | None:
        value = self.query.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid(f"Query parameter {name} must be an integer") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = json.dumps(data).encode()
    all_headers = {"content-type": "application/json", **(headers or {})}
    return Response(status, body, all_headers)


def error_response(error: ApiError) -> Response:
    return json_response({"code": error.code, "message": error.message}, status=error.status)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    """One operation: method + path template (``{name}`` segments) + handler."""

    method: str
    pattern: re.Pattern[str]
    operation: str
    handler: Handler
    signs_body: bool = True


class Router:
    """Finds the route for a method and raw path; path parameters are percent-decoded."""

    def __init__(self) -> None:
        self._routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        operation: str,
        handler: Handler,
        *,
        signs_body: bool = True,
    ) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template.rstrip("/"))
        pattern = re.compile(f"^{regex}/?$")
        self._routes.append(Route(method, pattern, operation, handler, signs_body))

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            if route.method != method:
                continue
            found = route.pattern.match(path)
            if found:
                return route, {key: unquote(value) for key, value in found.groupdict().items()}
        return None

    @property
    def operations(self) -> list[str]:
        return [route.operation for route in self._routes]

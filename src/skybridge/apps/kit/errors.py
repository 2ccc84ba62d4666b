"""The JSON body of every HTTP error, and OpenAPI response docs for app routes."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    message: str
    setting: str | None = None
    hint: str | None = None
    errors: list[FieldProblem] | None = None


Responses = dict[int | str, dict[str, Any]]


def error_responses(**by_status: str) -> Responses:
    """OpenAPI ``responses`` for error statuses: ``error_responses(e404="No such mapping")``."""
    return {
        int(status.lstrip("e")): {"model": ErrorBody, "description": description}
        for status, description in by_status.items()
    }

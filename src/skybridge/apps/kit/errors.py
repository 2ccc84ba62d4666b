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

#: How to say a field's pattern to a client, by the pattern (see :func:`pattern_rule`).
_PATTERN_RULES: dict[str, str] = {}


def pattern_rule(pattern: str, rule: str) -> str:
    """``pattern``, registered so that a 422 for a value that does not match it says ``rule``
    ("must be 1-140 letters, digits, dashes or underscores") instead of the regular expression.
    Use it where the pattern is declared: ``Field(pattern=pattern_rule(r"...", "..."))``."""
    _PATTERN_RULES[pattern] = rule
    return pattern


def rule_for(pattern: str) -> str | None:
    """The rule registered for ``pattern``, if any."""
    return _PATTERN_RULES.get(pattern)


def error_responses(**by_status: str) -> Responses:
    """OpenAPI ``responses`` for error statuses: ``error_responses(e404="No such mapping")``."""
    return {
        int(status.lstrip("e")): {"model": ErrorBody, "description": description}
        for status, description in by_status.items()
    }

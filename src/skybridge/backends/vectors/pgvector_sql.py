"""Metadata filters as PostgreSQL conditions on a ``jsonb`` column, with bound parameters.

``eq`` and ``in`` become containment (``metadata @> '{"f": v}'``, served by the GIN index);
ranges become ``jsonb_path_exists`` with variables, whose lax mode gives the filters' rules:
a comparison between a string and a number is unknown, so it never matches.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from skybridge.backends.vectors.filters import Condition, Eq, Filter, In, Range

_JSONPATH_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def where(flt: Filter) -> tuple[sql.Composable, list[Any]]:
    """``(condition, params)`` for ``flt``; ``TRUE`` when it is empty."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for condition in flt.conditions:
        part, values = _condition(condition)
        parts.append(part)
        params += values
    if not parts:
        return sql.SQL("TRUE"), []
    return sql.SQL(" AND ").join(parts), params


def _contains(field: str, value: Any) -> tuple[sql.Composable, list[Any]]:
    return sql.SQL("metadata @> %s::jsonb"), [json.dumps({field: value})]


def _condition(condition: Condition) -> tuple[sql.Composable, list[Any]]:
    if isinstance(condition, Eq):
        return _contains(condition.field, condition.value)
    if isinstance(condition, In):
        options = [_contains(condition.field, v) for v in condition.values]
        joined = sql.SQL(" OR ").join(part for part, _ in options)
        return sql.SQL("({})").format(joined), [p for _, values in options for p in values]
    return _range(condition)


def _range(condition: Range) -> tuple[sql.Composable, list[Any]]:
    tests = " && ".join(f"@ {_JSONPATH_OPS[op]} ${op}" for op, _ in condition.bounds())
    path = f'$."{condition.field}" ? ({tests})'
    variables = dict(condition.bounds())
    return (
        sql.SQL("jsonb_path_exists(metadata, %s::jsonpath, %s::jsonb)"),
        [path, json.dumps(variables)],
    )

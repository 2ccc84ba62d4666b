"""Metadata filters for vector queries: ``eq``, ``in`` and ranges, combined with AND.

Every vector store evaluates the same :class:`Filter` (the embedded store in Python, pgvector
pushed down to SQL) with the same rules:

* Values are JSON scalars. ``True`` never equals ``1``; ``1`` equals ``1.0``; ``None`` matches
  a stored ``null`` only, never a missing field.
* Ranges (``gt``, ``gte``, ``lt``, ``lte``) compare numbers with numbers and strings with strings
  (code point order); a value of another kind never matches.
* Dates and datetimes are stored and compared as canonical ISO text: dates ``YYYY-MM-DD``,
  datetimes in UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (naive ones are taken as UTC), so ranges over
  them are string ranges that sort by time.

The dict form, used by the CLI and HTTP API::

    {"lang": "en", "tag": {"in": ["a", "b"]}, "year": {"gte": 2020, "lt": 2024}}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from skybridge.core.errors import ValidationError

#: A stored metadata value.
Scalar = str | int | float | bool | None
#: What callers may write; dates become canonical ISO text.
MetadataValue = Scalar | date | datetime

FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
RANGE_OPS = ("gt", "gte", "lt", "lte")


def canonical(value: Any, *, where: str) -> Scalar:
    """``value`` as stored: a JSON scalar; dates and datetimes as canonical ISO text."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{where}: {value!r} is not a finite number")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValidationError(
        f"{where}: {type(value).__name__} is not a metadata value",
        hint="use text, a number, true/false, null, a date or a datetime",
    )


def check_field(name: Any) -> str:
    """``name`` if it is a valid metadata field name."""
    if not isinstance(name, str) or not FIELD.match(name):
        raise ValidationError(
            f"metadata field {name!r} is not a valid name",
            hint="start with a letter or _, then letters, digits, _ . - (at most 64)",
        )
    return name


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def same_value(stored: Any, wanted: Scalar) -> bool:
    """JSON equality: booleans only equal booleans, numbers compare by value."""
    if isinstance(wanted, bool) or isinstance(stored, bool):
        return isinstance(stored, bool) and isinstance(wanted, bool) and stored is wanted
    if _is_number(wanted):
        return _is_number(stored) and bool(stored == wanted)
    if wanted is None:
        return stored is None
    return isinstance(stored, str) and stored == wanted


@dataclass(frozen=True)
class Eq:
    """``field`` equals ``value``."""

    field: str
    value: Scalar

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        return self.field in metadata and same_value(metadata[self.field], self.value)


@dataclass(frozen=True)
class In:
    """``field`` equals one of ``values``."""

    field: str
    values: tuple[Scalar, ...]

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        if self.field not in metadata:
            return False
        stored = metadata[self.field]
        return any(same_value(stored, v) for v in self.values)


@dataclass(frozen=True)
class Range:
    """``field`` within bounds; all bounds are numbers, or all are text."""

    field: str
    gt: str | int | float | None = None
    gte: str | int | float | None = None
    lt: str | int | float | None = None
    lte: str | int | float | None = None

    def bounds(self) -> list[tuple[str, str | int | float]]:
        return [(op, v) for op in RANGE_OPS if (v := getattr(self, op)) is not None]

    @property
    def numeric(self) -> bool:
        return all(_is_number(v) for _, v in self.bounds())

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        stored = metadata.get(self.field)
        if self.numeric:
            if not _is_number(stored):
                return False
        elif not isinstance(stored, str):
            return False
        return all(_holds(stored, op, bound) for op, bound in self.bounds())


def _holds(stored: Any, op: str, bound: Any) -> bool:
    if op == "gt":
        return bool(stored > bound)
    if op == "gte":
        return bool(stored >= bound)
    if op == "lt":
        return bool(stored < bound)
    return bool(stored <= bound)


Condition = Eq | In | Range


@dataclass(frozen=True)
class Filter:
    """Conditions that must all hold (an empty filter matches everything)."""

    conditions: tuple[Condition, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.conditions)

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        return all(c.matches(metadata) for c in self.conditions)

    @classmethod
    def parse(cls, data: Filter | Mapping[str, Any] | None) -> Filter:
        """A filter from its dict form (or itself); ``None`` is the empty filter.

        Raises:
            ValidationError: an unknown operator, a bad field name or value, or mixed bounds.
        """
        if data is None:
            return cls()
        if isinstance(data, Filter):
            return data
        if not isinstance(data, Mapping):
            raise ValidationError(
                "a filter is an object of field -> value or {operator: value}",
                hint='for example {"lang": "en", "year": {"gte": 2020}}',
            )
        return cls(tuple(_condition(check_field(k), v) for k, v in data.items()))

    def to_dict(self) -> dict[str, Any]:
        """The dict form of this filter."""
        out: dict[str, Any] = {}
        for c in self.conditions:
            if isinstance(c, Eq):
                out[c.field] = {"eq": c.value}
            elif isinstance(c, In):
                out[c.field] = {"in": list(c.values)}
            else:
                out[c.field] = dict(c.bounds())
        return out


def _condition(field: str, spec: Any) -> Condition:
    if not isinstance(spec, Mapping):
        return Eq(field, canonical(spec, where=f"filter on {field!r}"))
    ops = set(spec)
    unknown = ops - {"eq", "in", *RANGE_OPS}
    if unknown or not ops:
        raise ValidationError(
            f"filter on {field!r}: unknown operator {sorted(unknown) or '(none)'}",
            hint="use eq, in, gt, gte, lt or lte",
        )
    if ops & {"eq", "in"} and len(ops) > 1:
        raise ValidationError(f"filter on {field!r}: eq and in cannot be combined with others")
    where = f"filter on {field!r}"
    if "eq" in ops:
        return Eq(field, canonical(spec["eq"], where=where))
    if "in" in ops:
        values = spec["in"]
        if not isinstance(values, list | tuple) or not values:
            raise ValidationError(f"{where}: 'in' takes a non-empty list of values")
        return In(field, tuple(canonical(v, where=where) for v in values))
    return _range(field, {op: canonical(spec[op], where=where) for op in ops})


def _range(field: str, bounds: dict[str, Scalar]) -> Range:
    kinds = {
        "number" if _is_number(v) else "text" if isinstance(v, str) else "bad"
        for v in bounds.values()
    }
    if kinds not in ({"number"}, {"text"}):
        raise ValidationError(
            f"filter on {field!r}: range bounds must all be numbers or all be text/dates",
            hint="booleans and null cannot bound a range",
        )
    return Range(field, **bounds)

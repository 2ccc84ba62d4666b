"""Change events: one row of a synced table, upserted or deleted, at a version.

On the stream a change is JSON::

    {"table": "orders", "op": "upsert", "row": {"order_id": 7, "amount": "19.90", ...},
     "at": 1767225600.25}

``at`` is when the change happened at the source (Unix seconds, from 0 to one day ahead of this
clock), for the cross-cloud latency metric; a delete carries the key columns and the version
only. Values are checked against their column's type: numbers must be finite, a ``numeric``
fits ``NUMERIC(38,10)`` (extra decimals are rounded half away from zero, as PostgreSQL and
Oracle round them, so every dialect stores the same value). The message key is
``<table>:<key values>``, so every change of one row lands on one partition, in order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Literal

from skybridge.apps.datasync.config import NUMERIC_PRECISION, NUMERIC_SCALE, ColumnType, TableSpec
from skybridge.core.errors import ValidationError, shown

Op = Literal["upsert", "delete"]
#: Columns datasync adds to every target table (never user columns).
DELETED, ORIGIN_AT, SYNCED_AT = "sb_deleted", "sb_origin_at", "sb_synced_at"
#: How far ahead of this clock a change's ``at`` may be (the source's clock may run ahead).
AT_SKEW = 86_400.0


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one row. ``row`` holds typed values (see :func:`coerce_row`)."""

    table: str
    op: Op
    row: dict[str, Any]
    at: float

    def key(self, spec: TableSpec) -> tuple[Any, ...]:
        return tuple(self.row[c] for c in spec.key)

    def message_key(self, spec: TableSpec) -> str:
        return f"{self.table}:" + "|".join(str(v) for v in self.key(spec))

    def to_json(self) -> dict[str, Any]:
        row = {k: _plain(v) for k, v in self.row.items()}
        return {"table": self.table, "op": self.op, "row": row, "at": self.at}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def parse_change(doc: Any, tables: Mapping[str, TableSpec]) -> Change:
    """A :class:`Change` from its JSON form; ValidationError says what is wrong."""
    if not isinstance(doc, dict):
        raise ValidationError("a change must be a JSON object with table, op and row")
    table = doc.get("table")
    if not isinstance(table, str) or table not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ValidationError(f"unknown table {table!r}", hint=f"synced tables: {known}")
    op = doc.get("op", "upsert")
    if op not in ("upsert", "delete"):
        raise ValidationError(f"op must be upsert or delete, not {op!r}")
    at = origin_time(doc.get("at", time.time()))
    row = coerce_row(doc.get("row"), tables[table], partial=op == "delete")
    return Change(table, op, row, at)


def origin_time(value: Any, now: float | None = None) -> float:
    """``value`` as a change's ``at``: finite Unix seconds from 0 (1970-01-01T00:00:00Z) to
    :data:`AT_SKEW` after ``now`` (default: this clock), else ValidationError.

    A time outside that range cannot be when a change happened, and would skew the latency
    metric for good (one ``at`` of -1e300 makes its sum 1e300).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"at must be a Unix time in seconds (a number), not {shown(value)}")
    latest = (time.time() if now is None else now) + AT_SKEW
    if not 0 <= value <= latest:  # False for NaN too
        raise ValidationError(
            f"at {shown(value)} is not a time a change can have: give finite Unix seconds "
            f"from 0 (1970-01-01T00:00:00Z) to {latest:.0f} (one day from now)",
            hint="leave 'at' out to mean now",
        )
    return float(value)


def coerce_row(row: Any, spec: TableSpec, *, partial: bool = False) -> dict[str, Any]:
    """``row`` with each value converted to its column's type.

    Key and version columns are required and never null; other columns may be left out (they
    become null) and must be left out of a delete (``partial``) or may be. Unknown columns are
    refused, so a typo never silently drops data.
    """
    if not isinstance(row, dict):
        raise ValidationError("row must be a JSON object of column values")
    columns = spec.columns
    if not row.keys() <= columns.keys():
        unknown = sorted(set(row) - set(columns))
        names = ", ".join(shown(name) for name in unknown)
        raise ValidationError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {names}",
            hint=f"the table's columns: {', '.join(columns)}",
        )
    out: dict[str, Any] = {}
    for name, kind, required in _plan(spec, partial):
        value = row.get(name)
        if value is None:
            if required:
                raise ValidationError(f"column {name!r} is required (key or version)")
            out[name] = None
            continue
        try:
            out[name] = _COERCE[kind](value)
        except _ERRORS as exc:
            raise _refused(name, kind, value, exc) from None
    return out


def _plan(spec: TableSpec, partial: bool) -> list[tuple[str, ColumnType, bool]]:
    """(column, type, required) in column order; a delete (``partial``) keeps key and version."""
    cached = _PLANS.get((id(spec), partial))
    if cached is not None and cached[0] is spec:
        return cached[1]
    needed = {*spec.key, spec.version}
    plan = [
        (name, kind, name in needed)
        for name, kind in spec.columns.items()
        if not partial or name in needed
    ]
    _PLANS[(id(spec), partial)] = (spec, plan)
    return plan


#: Coercion plans by (spec id, partial); the spec is kept so an id is never reused wrongly.
_PLANS: dict[tuple[int, bool], tuple[TableSpec, list[tuple[str, ColumnType, bool]]]] = {}


def coerce_value(value: Any, kind: ColumnType, name: str) -> Any:
    """``value`` as a Python value of column type ``kind`` (None stays None)."""
    if value is None:
        return None
    try:
        return _COERCE[kind](value)
    except _ERRORS as exc:
        raise _refused(name, kind, value, exc) from None


class Unfit(ValueError):
    """A value of the right kind that its column cannot hold; the message says why."""


#: What a coercion raises for a value that is not of its column's type.
_ERRORS = (ValueError, TypeError, InvalidOperation, OverflowError, OSError)


def _refused(name: str, kind: ColumnType, value: Any, exc: Exception) -> ValidationError:
    if isinstance(exc, Unfit):
        return ValidationError(f"column {name!r}: {shown(value)} does not fit: {exc}")
    return ValidationError(f"column {name!r}: {shown(value)} is not a valid {kind.value}")


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not a whole number")
    number = int(value)
    if not -(2**63) <= number < 2**63:
        raise Unfit("an integer column holds -2**63 to 2**63-1")
    return number


#: Digits a ``numeric`` value may have before the point; the step its decimals are rounded to.
INTEGER_DIGITS = NUMERIC_PRECISION - NUMERIC_SCALE
_STEP = Decimal(1).scaleb(-NUMERIC_SCALE)
#: Enough digits to round any value that passed the size check exactly (one more for a carry).
_ROUNDING = Context(prec=NUMERIC_PRECISION + 1, rounding=ROUND_HALF_UP)
_TOO_BIG = (
    f"NUMERIC({NUMERIC_PRECISION},{NUMERIC_SCALE}) holds at most {INTEGER_DIGITS} digits "
    "before the decimal point"
)


def _numeric(value: Any) -> Decimal:
    """``value`` as a decimal ``NUMERIC(38,10)`` holds: finite, at most 28 digits before the
    point, more than 10 after rounded half away from zero (as PostgreSQL and Oracle store it;
    SQLite keeps the text, so it gets the rounded value too)."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    number = Decimal(str(value))
    if not number.is_finite():
        raise Unfit("a numeric column holds finite numbers, not NaN or Infinity")
    if number and number.adjusted() >= INTEGER_DIGITS:
        raise Unfit(_TOO_BIG)
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -NUMERIC_SCALE:
        number = number.quantize(_STEP, context=_ROUNDING)
        if number.adjusted() >= INTEGER_DIGITS:  # rounded up past the limit: 99...9.99999999999
            raise Unfit(_TOO_BIG)
    elif isinstance(exponent, int) and exponent > 0:
        number = number.quantize(Decimal(1), context=_ROUNDING)  # 1E+5 -> 100000
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise Unfit("a float column holds finite numbers (not NaN, Infinity or beyond 1.8e308)")
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "1", "yes"):
        return True
    if text in ("false", "f", "0", "no"):
        return False
    raise ValueError("not a boolean")


def _timestamp(value: Any) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = datetime.fromtimestamp(value, UTC)
    else:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    # Stored as naive UTC: every dialect compares those the same way.
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        raise TypeError("not a scalar")
    return str(value)


_COERCE = {
    ColumnType.INTEGER: _integer,
    ColumnType.BIGINT: _integer,
    ColumnType.NUMERIC: _numeric,
    ColumnType.FLOAT: _float,
    ColumnType.TEXT: _text,
    ColumnType.BOOLEAN: _boolean,
    ColumnType.TIMESTAMP: _timestamp,
}

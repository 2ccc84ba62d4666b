"""Durations as people write them (``30s``, ``5m``, ``1h``, ``7d``, or seconds) and event
times as events carry them (ISO 8601 text, epoch seconds or epoch milliseconds)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from skybridge.core.errors import ValidationError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
#: Numbers above this are epoch milliseconds (year 5138 in seconds).
_MILLIS_ABOVE = 1e11
#: Epoch seconds or milliseconds written as text: 9 digits or more (an ISO 8601 basic date,
#: ``20260101``, has 8, and a basic date-time has a ``T``).
_EPOCH_TEXT = re.compile(r"\d{9,}(\.\d+)?")


def parse_duration(value: Any) -> float:
    """Seconds in ``value``: a number of seconds or text such as ``90s``, ``5m``, ``1.5h``.

    Raises:
        ValueError: not a positive duration (pydantic turns it into a located error).
    """
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like 5m, 1h, 7d")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError(f"{value!r} is not a duration: write seconds or 30s, 5m, 1h, 7d")
        seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"a duration must be positive, got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``300.0`` -> ``5m``; the largest unit that divides it exactly."""
    for unit in ("w", "d", "h", "m", "s"):
        size = _UNITS[unit]
        if seconds >= size and float(seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    return f"{seconds:g}s"


def parse_event_time(value: Any, field: str) -> float:
    """Epoch seconds of an event's time field: ISO 8601 text (``Z`` or an offset; naive is
    UTC), epoch seconds, or epoch milliseconds.

    Raises:
        ValidationError: the value is missing or none of those.
    """
    if isinstance(value, bool) or value is None:
        raise ValidationError(f"event field {field!r} is missing or not a time")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValidationError(f"event field {field!r} is not a finite time")
        return seconds / 1000.0 if abs(seconds) > _MILLIS_ABOVE else seconds
    if isinstance(value, str):
        if _EPOCH_TEXT.fullmatch(value.strip()):  # epoch seconds or ms as text (CSV, Parquet)
            return parse_event_time(float(value), field)
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError(
                f"event field {field!r} is {value[:40]!r}, not an ISO 8601 time or epoch seconds"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise ValidationError(f"event field {field!r} is a {type(value).__name__}, not a time")

"""Events on the stream: ``{"series": "cpu-1", "time": "2025-01-01T10:00:00", "metric": 58}``.

``series`` defaults to the record key; ``time`` is ISO 8601 (UTC when it names no zone) or
Unix seconds; the value is ``metric`` (the original's name) or ``value``; ``id`` is optional
(default ``<series>@<time>``, so an event sent twice is one row).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skybridge.core.errors import ValidationError


@dataclass(frozen=True)
class Point:
    """One observation of one series."""

    series: str
    time: datetime  # naive UTC
    value: float
    event_id: str

    @property
    def epoch(self) -> float:
        return self.time.replace(tzinfo=UTC).timestamp()


def parse_time(raw: Any) -> datetime:
    """An event time: ISO 8601 text or Unix seconds, as naive UTC."""
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        try:
            return datetime.fromtimestamp(float(raw), UTC).replace(tzinfo=None)
        except (ValueError, OverflowError, OSError):
            pass  # outside the years datetime can hold: reported below
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
    raise ValidationError(
        f"bad event time {raw!r}", hint="give ISO 8601 text (2025-01-01T10:00:00) or Unix seconds"
    )


def parse_point(raw: Any, default_series: str = "") -> Point:
    """The point an event describes.

    Raises:
        ValidationError: not an object, no finite ``metric``/``value``, a bad ``time``, or no
            series (neither a ``series`` field nor a record key).
    """
    if not isinstance(raw, dict):
        raise ValidationError("an event must be a JSON object with time and metric")
    series = str(raw.get("series") or default_series).strip()
    if not series or len(series) > 200:
        raise ValidationError("an event needs a series (1-200 characters) or a record key")
    value = raw.get("metric", raw.get("value"))
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"event of {series!r}: 'metric' must be a finite number")
    time = parse_time(raw.get("time"))
    event_id = str(raw.get("id") or f"{series}@{time.isoformat()}")[:200]
    return Point(series, time, float(value), event_id)


def point_event(point: Point) -> dict[str, Any]:
    """The event JSON of ``point`` (what ``produce`` puts on the stream)."""
    return {
        "id": point.event_id,
        "series": point.series,
        "time": point.time.isoformat(),
        "metric": point.value,
    }

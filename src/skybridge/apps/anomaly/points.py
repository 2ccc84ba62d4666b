"""Events on the stream: ``{"series": "cpu-1", "time": "2025-01-01T10:00:00", "metric": 58}``.

``series`` defaults to the record key; ``time`` is ISO 8601 (UTC when it names no zone) or
Unix seconds; the value is ``metric`` (the original's name) or ``value``; ``id`` is optional
(default ``<series>@<time>``, so an event sent twice is one row).

The route, the CLI and the pipeline all read events here, so they refuse the same things: a
series or id that is not 1-200 printable characters (no NUL or other control characters), and a
value that is not a finite number within +-1e150 (the detectors square deviations of values).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skybridge.core.errors import ValidationError, shown

#: Longest series name or event id, in characters. A series is the pipeline's kv state key
#: (``state/anomaly-online/<series>``): 200 characters of at most 4 UTF-8 bytes each stay under
#: the 1,024-byte key limit, and the SQL columns are 200 characters wide.
MAX_NAME = 200
#: Largest magnitude of a value. Detectors square deviations and sum windows of them: with
#: values within +-1e150 that stays far below float overflow (about 1.8e308).
MAX_MAGNITUDE = 1e150
_NAME_HINT = f"use 1-{MAX_NAME} printable characters (no NUL or other control characters)"
_VALUE_HINT = f"give a finite number between -{MAX_MAGNITUDE:g} and {MAX_MAGNITUDE:g}"


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
            if moment.tzinfo:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):
            pass  # not ISO 8601, or in UTC outside the years datetime can hold
        else:
            return moment
    raise ValidationError(
        f"bad event time {raw!r}", hint="give ISO 8601 text (2025-01-01T10:00:00) or Unix seconds"
    )


def check_name(raw: Any, field: str) -> str:
    """``raw`` (text, or an integer) as a series name or event id, stripped.

    Raises:
        ValidationError: it is not 1-200 printable characters (names ``field``).
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValidationError(f"'{field}' must be text, got {type(raw).__name__}", hint=_NAME_HINT)
    name = str(raw).strip()
    if not 1 <= len(name) <= MAX_NAME or not name.isprintable():
        raise ValidationError(f"'{field}' {shown(name, 43)} is not a usable name", hint=_NAME_HINT)
    return name


def check_value(raw: Any, field: str = "metric") -> float:
    """``raw`` as a value a detector can take.

    Raises:
        ValidationError: not a number, not finite, or beyond +-1e150 (names ``field``).
    """
    if type(raw) is float and -MAX_MAGNITUDE <= raw <= MAX_MAGNITUDE:
        return raw  # the usual case, first: detectors check every point they are given
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValidationError(
            f"'{field}' must be a number, got {type(raw).__name__}", hint=_VALUE_HINT
        )
    if not -MAX_MAGNITUDE <= raw <= MAX_MAGNITUDE:  # also NaN, and integers beyond floats
        raise ValidationError(f"'{field}' {shown(raw, 43)} is out of range", hint=_VALUE_HINT)
    return float(raw)


def event_series(raw: Any, default_series: str = "") -> str:
    """The checked series of event ``raw``: its ``series`` field, else ``default_series``
    (the record key). The pipeline's state key, so it is checked before any state is read.

    Raises:
        ValidationError: not an object, or no usable series.
    """
    if not isinstance(raw, dict):
        raise ValidationError("an event must be a JSON object with time and metric")
    series = raw.get("series")
    if series is None or series == "":
        series = default_series
    if series == "":
        raise ValidationError(
            "an event needs a 'series' or a record key", hint="add a 'series' field"
        )
    return check_name(series, "series")


def default_event_id(series: str, time: datetime) -> str:
    """``<series>@<time>``; when that is longer than 200 characters, its first ones and a digest
    of the whole (so events of a long-named series keep distinct ids)."""
    event_id = f"{series}@{time.isoformat()}"
    if len(event_id) <= MAX_NAME:
        return event_id
    digest = hashlib.sha256(event_id.encode("utf-8")).hexdigest()[:16]
    return f"{event_id[: MAX_NAME - 17]}#{digest}"


def parse_point(raw: Any, default_series: str = "") -> Point:
    """The point an event describes.

    Raises:
        ValidationError: not an object, no usable series (neither a ``series`` field nor a
            record key), a ``metric``/``value`` that is not a finite number within +-1e150, a
            bad ``time``, or an ``id`` that is not a usable name; the message names the field.
    """
    series = event_series(raw, default_series)
    field = "value" if "metric" not in raw and "value" in raw else "metric"
    value = check_value(raw.get(field), field)
    time = parse_time(raw.get("time"))
    given = raw.get("id")
    event_id = check_name(given, "id") if given else default_event_id(series, time)
    return Point(series, time, value, event_id)


def point_event(point: Point) -> dict[str, Any]:
    """The event JSON of ``point`` (what ``produce`` puts on the stream)."""
    return {
        "id": point.event_id,
        "series": point.series,
        "time": point.time.isoformat(),
        "metric": point.value,
    }

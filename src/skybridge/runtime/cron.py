"""5-field cron expressions (``minute hour day-of-month month day-of-week``), via ``croniter``.

:func:`parse_cron` validates up front and says which field is wrong, so a bad schedule fails
when the job is registered, not at its first tick. Besides the five fields the usual aliases
``@hourly``, ``@daily``, ``@weekly``, ``@monthly`` and ``@yearly`` are accepted. Ticks are
computed in the schedule's time zone (IANA name), so ``0 2 * * *`` in ``Europe/Paris`` means
02:00 local time across DST changes; times are exchanged as epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skybridge.core.errors import MissingDependency, ValidationError

FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_HINT = "write 5 fields: minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'"


def _croniter() -> Any:
    try:
        import croniter
    except ImportError:  # pragma: no cover - croniter is a core dependency
        raise MissingDependency("croniter", "all", feature="cron schedules") from None
    return croniter


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A validated cron expression in a time zone."""

    expression: str
    tz: str = "UTC"

    def _iter(self, t: float) -> Any:
        start = datetime.fromtimestamp(t, ZoneInfo(self.tz))
        return _croniter().croniter(self.expression, start)

    def next_after(self, t: float) -> float:
        """The first tick strictly after ``t``."""
        return float(self._iter(t).get_next(float))

    def previous(self, tick: float) -> float:
        """The last tick strictly before ``tick``."""
        return float(self._iter(tick).get_prev(float))

    def latest(self, until: float) -> float:
        """The last tick at or before ``until``."""
        before = self.previous(until)
        following = self.next_after(before)
        return following if following <= until else before


def parse_cron(expression: str, *, tz: str = "UTC") -> CronSchedule:
    """Validate ``expression`` and return its schedule.

    Raises:
        ValidationError: the expression (naming the bad field) or time zone is wrong, or the
            expression can never match (e.g. ``0 0 31 2 *``).
    """
    if not isinstance(expression, str) or not expression.strip():
        raise ValidationError("cron expression is empty", hint=_HINT)
    text = " ".join(expression.split())
    text = ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != len(FIELDS):
        raise ValidationError(
            f"cron expression {expression!r} has {len(fields)} fields, expected 5", hint=_HINT
        )
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"unknown time zone {tz!r}", hint="use an IANA name") from None
    lib = _croniter()
    for position, (name, value) in enumerate(zip(FIELDS, fields, strict=True)):
        probe = ["*"] * 5
        probe[position] = value
        try:
            lib.croniter(" ".join(probe))
        except (lib.CroniterError, ValueError, KeyError, IndexError) as exc:
            raise ValidationError(
                f"cron expression {expression!r}: {name} field {value!r} is not valid "
                f"({_reason(exc)})",
                hint=_HINT,
            ) from None
    schedule = CronSchedule(text, tz)
    try:
        schedule.next_after(datetime(2000, 1, 1, tzinfo=zone).timestamp())
    except lib.CroniterError:
        raise ValidationError(
            f"cron expression {expression!r} never matches a date", hint="check day and month"
        ) from None
    return schedule


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "out of range" in text:
        return "value out of range"
    if "step" in text:
        return "bad step"
    return "not a number, name, range, list or step"

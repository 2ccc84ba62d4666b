"""User events on the stream: what happened (``view``, ``click``, ``purchase``), feedback on
recommendations (``rec_click``, ``rec_ignore``) and what was served (``rec_served``).

An event is JSON (``{"user": "U123", "item": "I456", "kind": "view", "ts": 1760868900}``) or the
original article's CSV line ``U123,I456,view,2025-10-19T10:15:00Z``. ``ts`` is epoch seconds or
ISO 8601 (UTC when no zone is given) from 1970-01-01 to 2100-01-01 UTC; it defaults to the time
of publishing. The route, the CLI and the pipeline all parse events here, so an event the route
refuses is one the pipeline dead-letters.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from skybridge.core.errors import ValidationError, shown

INTERACTIONS = ("view", "click", "purchase", "rec_click")
KINDS = (*INTERACTIONS, "rec_ignore", "rec_served")
#: Item and segment ids: 1-128 letters, digits and . _ : @ / -, starting with a letter or digit.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$")
_ID_RULE = "1-128 letters, digits and . _ : @ / -, starting with a letter or digit"
#: User ids: the same without ``/``, as each is one path segment of ``/api/recommend/{user}``.
USER_ID = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"
USER_ID_RULE = "1-128 letters, digits and . _ : @ -, starting with a letter or digit"
_USER_ID = re.compile(USER_ID)
MAX_SERVED = 1000
#: Event times taken, in epoch seconds: 1970-01-01 to 2100-01-01 UTC (pages and day keys turn
#: them into dates; far-off ones are typos or junk, and beyond about 1e11 no date exists).
TS_MIN, TS_MAX = 0.0, 4_102_444_800.0
_TS_HINT = (
    "give epoch seconds from 0 to 4102444800 or ISO 8601 text, between 1970-01-01 and "
    "2100-01-01 UTC"
)


@dataclass(frozen=True)
class UserEvent:
    """One event of one user; ``items`` lists what was served (``rec_served`` only)."""

    user: str
    kind: str
    ts: float
    item: str = ""
    segment: str = ""
    items: tuple[str, ...] = field(default=())
    version: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"user": self.user, "kind": self.kind, "ts": self.ts}
        if self.item:
            data["item"] = self.item
        if self.segment:
            data["segment"] = self.segment
        if self.kind == "rec_served":
            data["items"] = list(self.items)
            data["version"] = self.version
        return data

    def encode(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


def check_id(value: Any, what: str) -> str:
    """``value`` if it is a valid id of a ``what`` ("user", "item", "segment")."""
    user = what == "user"
    if not isinstance(value, str) or not (_USER_ID if user else _ID).match(value):
        hint = f"a {what} id is {USER_ID_RULE if user else _ID_RULE}"
        if value is None or value == "":
            raise ValidationError(f"a {what} id is required", hint=hint)
        raise ValidationError(f"{what} id {shown(value)} is not valid", hint=hint)
    return value


def parse_time(value: Any) -> float:
    """Epoch seconds from a number or ISO 8601 text.

    Raises:
        ValidationError: not a number or ISO 8601 text, or not between 1970-01-01 and
            2100-01-01 UTC (``NaN`` and infinities included).
    """
    if isinstance(value, bool):
        raise ValidationError("ts must be epoch seconds or ISO 8601 text, not a boolean")
    if isinstance(value, int | float):
        return _in_range(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            seconds = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        except (ValueError, OverflowError):
            raise ValidationError(f"ts {shown(value, 43)} is not ISO 8601 text") from None
        return _in_range(seconds, value)
    raise ValidationError(f"ts {shown(value, 43)} must be epoch seconds or ISO 8601 text")


def _in_range(seconds: float, given: Any = None) -> float:
    if not TS_MIN <= seconds <= TS_MAX:  # also NaN, and integers beyond floats
        raise ValidationError(
            f"ts {shown(seconds if given is None else given, 43)} is out of range "
            "(1970-01-01 to 2100-01-01 UTC)",
            hint=_TS_HINT,
        )
    return float(seconds)


def stored_time(value: Any) -> float | None:
    """A time read back from stored state, ``None`` where it is none ``parse_time`` takes
    (state written before event times were checked)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if TS_MIN <= value <= TS_MAX else None


def time_text(value: Any) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC) of a stored time, ``—`` where it is none."""
    seconds = stored_time(value)
    if seconds is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(seconds))


def parse_event(data: Any, *, now: float | None = None) -> UserEvent:
    """An event from its JSON object, JSON text, bytes or CSV line.

    Raises:
        ValidationError: not an event, an unknown kind or a bad id, says what to fix.
    """
    if isinstance(data, bytes | bytearray):
        data = bytes(data).decode("utf-8", errors="replace")
    if isinstance(data, str):
        data = _from_text(data)
    if not isinstance(data, Mapping):
        raise ValidationError("an event is a JSON object with user, item and kind")
    kind = data.get("kind", data.get("event_type"))
    if kind not in KINDS:
        raise ValidationError(f"event kind {kind!r} is not one of {', '.join(KINDS)}")
    user = check_id(data.get("user", data.get("user_id")), "user")
    ts = parse_time(data["ts"]) if data.get("ts") is not None else (now or time.time())
    segment = data.get("segment") or ""
    if segment:
        check_id(segment, "segment")
    if kind == "rec_served":
        return UserEvent(user, kind, ts, segment=segment, **_served(data))
    item = check_id(data.get("item", data.get("item_id")), "item")
    return UserEvent(user, kind, ts, item=item, segment=segment)


def _from_text(text: str) -> Any:
    text = text.strip()
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError("the event is not valid JSON") from None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (3, 4):
        raise ValidationError(
            f"cannot read event {text[:80]!r}",
            hint="send JSON or the CSV line user,item,kind[,timestamp]",
        )
    return dict(zip(("user", "item", "kind", "ts"), parts, strict=False))


def _served(data: Mapping[str, Any]) -> dict[str, Any]:
    items = data.get("items")
    if not isinstance(items, list) or len(items) > MAX_SERVED:
        raise ValidationError(f"rec_served needs a list of at most {MAX_SERVED} items")
    return {
        "items": tuple(check_id(i, "item") for i in items),
        "version": str(data.get("version") or ""),
    }

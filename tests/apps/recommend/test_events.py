"""Events: JSON, bytes and the original article's CSV line; bad ones say what to fix."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.apps.recommend.events import (
    KINDS,
    TS_MAX,
    UserEvent,
    parse_event,
    parse_time,
    time_text,
)
from skybridge.core.errors import ValidationError

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,20}", fullmatch=True)
user_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,20}", fullmatch=True)


@given(
    user=user_ids,
    item=ids,
    kind=st.sampled_from([k for k in KINDS if k != "rec_served"]),
    ts=st.floats(0, 4e9, allow_nan=False),
    segment=st.one_of(st.just(""), ids),
)
def test_events_round_trip(user: str, item: str, kind: str, ts: float, segment: str) -> None:
    event = UserEvent(user, kind, ts, item, segment)
    assert parse_event(event.encode()) == event
    assert parse_event(event.to_dict()) == event


def test_the_original_csv_line_is_read() -> None:
    event = parse_event("U123,I456,view,2025-10-19T10:15:00Z")
    assert (event.user, event.item, event.kind) == ("U123", "I456", "view")
    assert event.ts == parse_time("2025-10-19T10:15:00+00:00") == 1760868900.0
    assert parse_event("U1,I2,click", now=5.0).ts == 5.0


def test_served_lists_carry_their_items() -> None:
    event = parse_event({"user": "u", "kind": "rec_served", "items": ["a", "b"], "version": "v1"})
    assert event.items == ("a", "b")
    assert event.version == "v1"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"user": "u", "item": "i", "kind": "like"}, "kind"),
        ({"user": "bad user", "item": "i", "kind": "view"}, "user id"),
        ({"user": "team/u1", "item": "i", "kind": "view"}, "user id 'team/u1'"),
        ({"user": "u", "kind": "view"}, "item id"),
        ({"user": "u", "item": "i", "kind": "view", "ts": "yesterday"}, "ISO 8601"),
        ({"user": "u", "item": "i", "kind": "view", "ts": True}, "boolean"),
        ({"user": "u", "kind": "rec_served", "items": "a"}, "list"),
        ("{not json", "JSON"),
        ("only,two", "user,item,kind"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_events_say_what_to_fix(data: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_event(data)


@pytest.mark.parametrize(
    "ts",
    [
        1e308,
        -1e308,
        math.nan,
        math.inf,
        -1,
        TS_MAX + 1,
        pytest.param(10**400, id="int-beyond-floats"),
        "1969-12-31T23:59:59Z",
        "2100-01-01T00:00:01Z",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_event_times_outside_1970_to_2100_are_refused(ts: Any) -> None:
    with pytest.raises(ValidationError, match=r"ts .*1970.*2100"):
        parse_event({"user": "u", "item": "i", "kind": "view", "ts": ts})


def test_event_times_at_the_ends_of_the_range_are_accepted() -> None:
    assert parse_time(0) == 0.0
    assert parse_time(TS_MAX) == parse_time("2100-01-01T00:00:00Z") == TS_MAX


@pytest.mark.parametrize("ts", [1e308, math.nan, -math.inf, None, "x", -1e12])
def test_a_stored_time_that_is_no_time_is_shown_as_unknown(ts: Any) -> None:
    assert time_text(ts) == "—"
    assert time_text(1760868900.0) == "2025-10-19 10:15"

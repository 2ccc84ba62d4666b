"""Cron parsing: good expressions tick where expected, bad ones say what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from skybridge.core.errors import ValidationError
from skybridge.runtime import parse_cron


def ts(*parts: int, tz=UTC) -> float:
    return datetime(*parts, tzinfo=tz).timestamp()


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("*/15 * * * *", ts(2024, 1, 1, 0, 7), ts(2024, 1, 1, 0, 15)),
        ("*/15 * * * *", ts(2024, 1, 1, 0, 15), ts(2024, 1, 1, 0, 30)),  # strictly after
        ("0 0 29 2 *", ts(2024, 3, 1), ts(2028, 2, 29)),  # leap day
        ("0 9 * * MON-FRI", ts(2024, 1, 6, 12), ts(2024, 1, 8, 9)),  # Saturday -> Monday
        ("  30   2 1 * *  ", ts(2024, 1, 15), ts(2024, 2, 1, 2, 30)),  # extra spaces
        ("@hourly", ts(2024, 1, 1, 0, 59, 59), ts(2024, 1, 1, 1)),
        ("0 0 * * 7", ts(2024, 1, 1), ts(2024, 1, 7)),  # 7 = Sunday
    ],
)
def test_next_tick(expression, after, expected) -> None:
    assert parse_cron(expression).next_after(after) == expected


def test_latest_includes_an_exact_tick() -> None:
    schedule = parse_cron("*/10 * * * *")
    assert schedule.latest(ts(2024, 1, 1, 0, 20)) == ts(2024, 1, 1, 0, 20)
    assert schedule.latest(ts(2024, 1, 1, 0, 29, 59)) == ts(2024, 1, 1, 0, 20)
    assert schedule.previous(ts(2024, 1, 1, 0, 20)) == ts(2024, 1, 1, 0, 10)


def test_time_zone_follows_local_time_across_dst() -> None:
    schedule = parse_cron("0 2 * * *", tz="America/New_York")
    # 2024-03-10 is the US spring-forward day; 02:00 does not exist, next real 2 am is on the 11th
    first = schedule.next_after(ts(2024, 3, 9, 12))
    assert datetime.fromtimestamp(first, UTC) == datetime(2024, 3, 10, 7, tzinfo=UTC)
    second = schedule.next_after(schedule.next_after(first))
    assert datetime.fromtimestamp(second, UTC) == datetime(2024, 3, 12, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("", "empty"),
        ("* * * *", "has 4 fields, expected 5"),
        ("0 * * * * *", "has 6 fields, expected 5"),
        ("61 * * * *", "minute field '61' is not valid (value out of range)"),
        ("0 24 * * *", "hour field '24'"),
        ("0 0 0 * *", "day-of-month field '0'"),
        ("0 0 * 13 *", "month field '13'"),
        ("0 0 * * 8", "day-of-week field '8'"),
        ("*/0 * * * *", "minute field '*/0' is not valid (bad step)"),
        ("1,,2 * * * *", "minute field '1,,2'"),
        ("0 0 * * FUNDAY", "day-of-week field 'FUNDAY'"),
        ("0 0 31 2 *", "never matches"),
        ("@fortnightly", "has 1 fields"),
    ],
)
def test_bad_expressions_say_what_is_wrong(expression, message) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_cron(expression)
    assert message in str(caught.value)
    assert "minute hour day-of-month month day-of-week" in str(caught.value) or "never" in str(
        caught.value
    )


def test_unknown_time_zone() -> None:
    with pytest.raises(ValidationError, match="time zone 'Mars/Olympus'"):
        parse_cron("* * * * *", tz="Mars/Olympus")

"""Times shown to people and machines: ISO 8601 UTC text and the dashboard's minute form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.core.clock import duration_text, iso, when

MOMENT = 1_765_063_201.25  # 2025-12-06T23:20:01.250Z


def test_iso_is_utc_with_milliseconds() -> None:
    assert iso(MOMENT) == "2025-12-06T23:20:01.250Z"
    assert iso(None) is None


@pytest.mark.parametrize(
    "value",
    [
        MOMENT,
        int(MOMENT),
        "2025-12-06T23:20:01.250Z",
        "2025-12-06T23:20:01+00:00",
        datetime(2025, 12, 6, 23, 20, 1),  # naive: UTC by the project's convention
        datetime(2025, 12, 7, 1, 20, 1, tzinfo=timezone(timedelta(hours=2))),
    ],
)
def test_when_reads_every_form_the_answers_use(value: object) -> None:
    assert when(value) == "2025-12-06 23:20 UTC"  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, ""])
def test_when_of_nothing_is_a_dash(value: object) -> None:
    assert when(value) == "—"  # type: ignore[arg-type]


@given(st.floats(min_value=0, max_value=4_102_444_799, allow_nan=False))
def test_when_of_iso_agrees_with_when_of_seconds(seconds: float) -> None:
    text = iso(seconds)
    assert text is not None
    assert when(text) == when(seconds) == when(datetime.fromtimestamp(seconds, tz=UTC))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.085, "85 ms"),
        (2.44, "2.4 s"),
        (42.4, "42 s"),
        (1020, "17 min"),
        (11520, "3.2 h"),
        (244795.9 * 60, "170.0 d"),  # datasync's p95 once read "244795.9 min"
    ],
)
def test_durations_read_in_the_largest_sensible_unit(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text

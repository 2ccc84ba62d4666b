"""The event parser shared by the route, the CLI and the pipeline: names and values it refuses."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pytest

from skybridge.apps.anomaly.detectors import DETECTORS
from skybridge.apps.anomaly.evaluate import detector_scores
from skybridge.apps.anomaly.features import SeriesFeatures
from skybridge.apps.anomaly.points import MAX_MAGNITUDE, MAX_NAME, Point, parse_point, parse_time
from skybridge.backends.kv.keys import MAX_KEY_BYTES
from skybridge.core.errors import ValidationError

from .conftest import shifted_series

GOOD = {"series": "cpu", "time": "2024-01-01T00:00:00", "metric": 1}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"series": "a\x00b"}, "series"),
        ({"series": "a\nb"}, "series"),
        ({"series": "\x1b[31mred"}, "series"),
        ({"series": "x" * (MAX_NAME + 1)}, "series"),
        ({"series": ["cpu"]}, "series"),
        ({"id": "e\x001"}, "id"),
        ({"id": "e" * (MAX_NAME + 1)}, "id"),
        ({"metric": math.nan}, "metric"),
        ({"metric": 1e308}, "metric"),
        ({"metric": -2 * MAX_MAGNITUDE}, "metric"),
        pytest.param({"metric": 10**400}, "metric", id="int-beyond-floats"),
        ({"metric": "1"}, "metric"),
    ],
)
def test_bad_names_and_values_are_refused_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=f"'{field}'"):
        parse_point({**GOOD, **change})


def test_a_record_key_that_is_no_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="'series'"):
        parse_point({"time": 0, "metric": 1}, "k\x00")


def test_the_longest_names_and_values_are_accepted() -> None:
    series = "\U0001f600" * MAX_NAME  # four UTF-8 bytes a character
    point = parse_point({"series": series, "time": 0, "metric": -MAX_MAGNITUDE})
    assert point.series == series
    assert point.value == -MAX_MAGNITUDE
    assert len(point.event_id) <= MAX_NAME
    # the series is the pipeline's kv state key, under "state/anomaly-online/"
    assert len(f"state/anomaly-online/{series}".encode()) <= MAX_KEY_BYTES


def test_default_ids_of_long_series_stay_distinct() -> None:
    series = "s" * MAX_NAME
    first = parse_point({"series": series, "time": "2024-01-01T00:00:00", "metric": 1})
    second = parse_point({"series": series, "time": "2024-01-01T00:00:01", "metric": 1})
    again = parse_point({"series": series, "time": "2024-01-01T00:00:00", "metric": 2})
    assert len(first.event_id) <= MAX_NAME
    assert first.event_id != second.event_id
    assert first.event_id == again.event_id  # an event sent twice is one row


def test_a_zoned_time_before_year_1_in_utc_is_refused() -> None:
    with pytest.raises(ValidationError, match="bad event time"):
        parse_time("0001-01-01T00:00:00+01:00")


@pytest.mark.parametrize("name", list(DETECTORS))
def test_detectors_cope_with_the_largest_values(name: str) -> None:
    times, _ = shifted_series(count=300)
    big = [MAX_MAGNITUDE * (-1) ** i for i in range(150)] + [MAX_MAGNITUDE] * 150
    scores, _ = detector_scores(times, big, name)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_the_ratio_feature_is_none_where_it_would_overflow() -> None:
    features = SeriesFeatures()
    features.learn(Point("s", datetime(2024, 1, 1), 1e-300, "a"), 10)
    computed = features.compute(Point("s", datetime(2024, 1, 2), MAX_MAGNITUDE, "b"), "daily")
    assert computed.ratio is None

"""Detectors: one flag per excursion, state round trips, robust statistics."""

from __future__ import annotations

import json
import math
import random
import statistics
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.apps.anomaly.detectors import DETECTORS, new_detector
from skybridge.apps.anomaly.detectors.rolling import median_distance
from skybridge.apps.anomaly.evaluate import detector_scores, nab_report
from skybridge.core.errors import ValidationError

from .conftest import shifted_series

THRESHOLD = 0.55


def test_combined_flags_a_level_shift_at_its_start_only() -> None:
    times, values = shifted_series()
    scores, reasons = detector_scores(times, values, "combined")
    flagged = [i for i, s in enumerate(scores) if s >= THRESHOLD and i > 100]
    assert 300 in flagged
    after = [i for i in flagged if i >= 1400]
    assert after[0] == 1400
    assert len(after) <= 3
    assert after[-1] < 1410
    assert "robust deviations above the rolling median" in (reasons[1400] or "")


def test_combined_is_quiet_after_a_flag_while_an_excursion_grows() -> None:
    times, values = shifted_series(count=1200, shift_at=5000, spike_at=5000)
    ramp = [v + (0.0 if i < 900 else 8.0 * (i - 899)) for i, v in enumerate(values)]
    scores, reasons = detector_scores(times, ramp, "combined")
    flagged = [i for i, s in enumerate(scores) if s >= THRESHOLD and i > 100]
    assert flagged
    assert 900 <= flagged[0] < 905
    assert all(i >= flagged[0] + 120 for i in flagged[1:])
    model = new_detector("combined")
    for t, v in zip(times[: flagged[0] + 2], ramp, strict=False):
        model.update(t.timestamp(), v)
    assert "within 120 points of the last flag" in model.explain()
    assert reasons[flagged[0]] is not None


def test_combined_flags_a_spike_on_a_daily_cycle_once_not_again_a_day_later() -> None:
    """The day after a spike, the normal value at the same time differs from the spike as much
    as the spike differed from normal: the seasonal baseline must not flag that echo."""
    rng = random.Random(7)
    start = datetime(2025, 1, 1)
    times = [start + timedelta(minutes=5 * i) for i in range(4000)]  # 288 points a day
    values = [
        50 + 10 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 1.5) + (60 if i == 3100 else 0)
        for i in range(len(times))
    ]
    scores, reasons = detector_scores(times, values, "combined")
    flagged = [i for i, s in enumerate(scores) if s >= THRESHOLD and i > 100]
    assert flagged == [3100]
    assert "against the same time a day earlier" in (reasons[3100] or "")
    assert scores[3100 + 288] < THRESHOLD


def test_robust_z_keeps_flagging_a_level_shift_until_it_adapts() -> None:
    times, values = shifted_series()
    scores, _ = detector_scores(times, values, "robust-z")
    assert sum(1 for s in scores[1400:1500] if s >= THRESHOLD) > 50


@pytest.mark.parametrize("name", [n for n in DETECTORS if n != "river-hst"])
def test_state_round_trip_continues_identically(name: str) -> None:
    times, values = shifted_series(count=400, shift_at=300, spike_at=200)
    epochs = [t.timestamp() for t in times]
    whole = new_detector(name)
    expected = [whole.update(t, v) for t, v in zip(epochs, values, strict=True)]
    first = new_detector(name)
    got = [first.update(t, v) for t, v in zip(epochs[:250], values[:250], strict=True)]
    resumed = new_detector(name, json.loads(json.dumps(first.to_state())))
    got += [resumed.update(t, v) for t, v in zip(epochs[250:], values[250:], strict=True)]
    assert got == pytest.approx(expected)


def test_river_detector_scores_in_unit_interval() -> None:
    times, values = shifted_series(count=300, shift_at=250, spike_at=200)
    scores, _ = detector_scores(times, values, "river-hst")
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert max(scores) > 0.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False) | st.integers(0, 3).map(float), min_size=1))
def test_median_distance_is_the_mad(values: list[float]) -> None:
    ordered = sorted(values)
    centre = statistics.median(ordered)
    want = sorted(abs(v - centre) for v in ordered)[len(ordered) // 2]
    assert median_distance(ordered, centre) == pytest.approx(want)


def test_unknown_detector_names_the_known_ones() -> None:
    from skybridge.core.errors import ValidationError

    with pytest.raises(ValidationError, match="combined"):
        new_detector("nope")


@pytest.mark.parametrize("raw", [1e300, -1e20, "2025-13-01", "", None, True])
def test_bad_event_times_are_validation_errors(raw: object) -> None:
    from skybridge.apps.anomaly.points import parse_time
    from skybridge.core.errors import ValidationError

    with pytest.raises(ValidationError, match="bad event time"):
        parse_time(raw)


@pytest.mark.parametrize("name", list(DETECTORS))
@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan, 1e200, "1"])
def test_update_refuses_a_value_events_refuse_and_learns_nothing(name: str, bad: object) -> None:
    times, values = shifted_series(count=200)
    model = new_detector(name)
    for t, v in zip(times, values, strict=True):
        model.update(t.timestamp(), v)
    before = json.dumps(model.to_state()) if name != "river-hst" else None
    with pytest.raises(ValidationError, match=r"'value' (.* is out of range|must be a number)"):
        model.update(times[-1].timestamp() + 300, bad)  # type: ignore[arg-type]
    if before is not None:
        assert json.dumps(model.to_state()) == before


def test_a_non_finite_value_is_refused_by_index_not_scored() -> None:
    # One inf used to score 1.0 and then blind the detector: a later spike scored 0.
    start = datetime(2025, 1, 1)
    times = [start + timedelta(minutes=i) for i in range(400)]
    values = [10.0 + math.sin(i / 5) for i in range(400)]
    values[350] = 500.0
    assert detector_scores(times, values, "combined")[0][350] > 0.9
    values[300] = math.inf
    with pytest.raises(ValidationError, match=r"'values\[300\]' inf is out of range") as caught:
        detector_scores(times, values, "combined")
    assert "finite number" in (caught.value.hint or "")


def test_timestamps_and_values_of_different_lengths_are_refused() -> None:
    times, values = shifted_series(count=20)
    with pytest.raises(ValidationError, match="20 timestamps but 10 values"):
        detector_scores(times, values[:10], "combined")


def test_nab_report_takes_the_folder_as_text(tmp_path: Path) -> None:
    series = tmp_path / "data" / "cat" / "s.csv"
    series.parent.mkdir(parents=True)
    start = datetime(2025, 1, 1)
    rows = [f"{(start + timedelta(minutes=5 * i)).isoformat()},{50 + i % 7}" for i in range(300)]
    rows[200] = rows[200].rsplit(",", 1)[0] + ",500"
    series.write_text("timestamp,value\n" + "\n".join(rows) + "\n")
    window = [(start + timedelta(minutes=5 * i)).isoformat() for i in (190, 210)]
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "combined_windows.json").write_text(json.dumps({"cat/s.csv": [window]}))
    report = nab_report(str(tmp_path), "global-z")
    assert report["series"] == 1
    assert report["windows"] == 1
    assert -100.0 <= report["standard"] <= 100.0

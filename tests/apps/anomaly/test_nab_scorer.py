"""The NAB scorer against NAB's own published output, and its rules on small cases."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skybridge.apps.anomaly.detectors.gaussian import WindowedGaussian
from skybridge.apps.anomaly.nab.corpus import NAB_PROFILE_NAMES, PROFILES, load_corpus
from skybridge.apps.anomaly.nab.evaluation import NEVER, optimize_threshold, scorable_scores
from skybridge.apps.anomaly.nab.sweep import (
    contributions,
    scaled_sigmoid,
    scorable_points,
    score_at,
)


def _published(nab: Path, path: str) -> list[dict[str, str]]:
    category, name = path.split("/")
    result = nab / "results" / "windowedGaussian" / category / f"windowedGaussian_{name}"
    with result.open() as handle:
        return list(csv.DictReader(handle))


def test_reproduces_published_per_point_scores_and_sums(nab_dir: Path) -> None:
    """Fed NAB's windowed-Gaussian scores at the published thresholds, every S(t) column of
    all series and all three profiles comes out, and so does each series' sum."""
    thresholds = json.loads((nab_dir / "config" / "thresholds.json").read_text())
    published = thresholds["windowedGaussian"]
    corpus = load_corpus(nab_dir)
    assert len(corpus) == 51
    for series in corpus:
        rows = _published(nab_dir, series.path)
        scores = [float(r["anomaly_score"]) for r in rows]
        for profile, costs in PROFILES.items():
            nab_name = NAB_PROFILE_NAMES[profile]
            threshold = published[nab_name]["threshold"]
            ours = contributions(series.timestamps, series.windows, scores, threshold, costs)
            column = [float(r[f"S(t)_{nab_name}"]) for r in rows]
            assert ours == pytest.approx(column, abs=1e-9), (series.path, profile)
            points = scorable_points(series.timestamps, series.windows, costs)
            total = score_at(points, scorable_scores(series, scores), threshold, costs).score
            assert total == pytest.approx(sum(column), abs=1e-9), (series.path, profile)


@pytest.mark.parametrize(
    "path",
    ["artificialWithAnomaly/art_daily_jumpsup.csv", "realAdExchange/exchange-2_cpc_results.csv"],
)
def test_windowed_gaussian_matches_published_scores(nab_dir: Path, path: str) -> None:
    series = load_corpus(nab_dir, only={path})[0]
    detector = WindowedGaussian()
    ours = [detector.update(0.0, value) for value in series.values]
    published = [float(r["anomaly_score"]) for r in _published(nab_dir, path)]
    assert ours == pytest.approx(published, abs=1e-9)


def test_scaled_sigmoid_edges() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(3.5) == -1.0


def _series(
    length: int, window: tuple[int, int]
) -> tuple[list[datetime], list[tuple[datetime, datetime]]]:
    start = datetime(2020, 1, 1)
    times = [start + timedelta(minutes=i) for i in range(length)]
    return times, [(times[window[0]], times[window[1]])]


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.sampled_from([0.0, 0.2, 0.5, 0.7, 0.9, 1.0]), min_size=60, max_size=60),
    threshold=st.sampled_from([0.2, 0.5, 0.7, 0.9, 1.0]),
)
def test_contributions_sum_to_the_series_score(scores: list[float], threshold: float) -> None:
    times, windows = _series(60, (30, 40))
    costs = PROFILES["standard"]
    shares = contributions(times, windows, scores, threshold, costs)
    points = scorable_points(times, windows, costs)
    kept = scores[len(scores) - len(points) :]
    assert sum(shares) == pytest.approx(score_at(points, kept, threshold, costs).score)


@settings(max_examples=60, deadline=None)
@given(scores=st.lists(st.sampled_from([0.1, 0.3, 0.6, 0.8, 1.0]), min_size=60, max_size=60))
def test_optimised_threshold_is_the_best_of_every_candidate(scores: list[float]) -> None:
    times, windows = _series(60, (20, 35))
    costs = PROFILES["reward_low_fn"]
    points = scorable_points(times, windows, costs)
    kept = scores[len(scores) - len(points) :]
    best = optimize_threshold({"s": points}, {"s": kept}, costs)
    brute = max(score_at(points, kept, t, costs).score for t in {NEVER, *kept})
    assert best.raw == pytest.approx(brute)
    assert score_at(points, kept, best.threshold, costs).score == pytest.approx(best.raw)

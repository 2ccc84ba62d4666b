"""NAB's evaluation: threshold optimisation per profile, normalisation, reports per category.

For each profile the threshold is chosen over the whole corpus (every distinct anomaly score,
and 1.1 for "never detect"; ties go to the higher threshold), each series is scored at it, and
the corpus total is normalised between the null detector (a constant 0.5) and the perfect one
(``tp`` per window): ``100 * (raw - null) / (perfect - null)``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.anomaly.nab.corpus import PROFILES, LabelledSeries
from skybridge.apps.anomaly.nab.sweep import (
    CostMatrix,
    PointWeight,
    SeriesScore,
    probation_length,
    scorable_points,
    score_at,
)

NEVER = 1.1  # NAB's first threshold: no point is a detection


@dataclass(frozen=True)
class Threshold:
    """The best threshold of a profile over a corpus and the raw score it gives."""

    threshold: float
    raw: float


@dataclass
class ProfileReport:
    """One profile's result: threshold, raw and normalised scores, overall and per category."""

    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    categories: dict[str, dict[str, Any]] = field(default_factory=dict)
    series: dict[str, SeriesScore] = field(default_factory=dict)

    @property
    def normalized(self) -> float:
        return normalize(self.raw, self.null, self.perfect)


def normalize(raw: float, null: float, perfect: float) -> float:
    """NAB's normalised score: 0 for the null detector, 100 for the perfect one."""
    return 100.0 * (raw - null) / (perfect - null)


def optimize_threshold(
    points: Mapping[str, Sequence[PointWeight]],
    scores: Mapping[str, Sequence[float]],
    costs: CostMatrix,
) -> Threshold:
    """The threshold that maximises the corpus' raw score (NAB's sweep over all scores)."""
    ranked: list[tuple[float, float, tuple[str, int] | None]] = []
    best_in: dict[tuple[str, int], float] = {}
    for path, series_points in points.items():
        for point, score in zip(series_points, scores[path], strict=True):
            window = None if point.window is None else (path, point.window)
            if window is not None:
                best_in[window] = -costs.fn
            ranked.append((score, point.weight, window))
    ranked.sort(key=lambda row: row[0], reverse=True)
    total = sum(best_in.values())
    best = Threshold(NEVER, total)
    current = NEVER
    for score, weight, window in ranked:
        if score != current:
            if total > best.raw:
                best = Threshold(current, total)
            current = score
        if window is None:
            total += weight
        elif weight > best_in[window]:
            total += weight - best_in[window]
            best_in[window] = weight
    return Threshold(current, total) if total > best.raw else best


def scorable_scores(series: LabelledSeries, scores: Sequence[float]) -> list[float]:
    """The anomaly scores of the points NAB scores (the probationary period dropped)."""
    if len(scores) != len(series.values):
        raise ValueError(f"{series.path}: {len(scores)} scores for {len(series.values)} points")
    skip = probation_length(len(scores))
    return [s for i, s in enumerate(scores) if i >= skip]


def evaluate(
    corpus: Sequence[LabelledSeries],
    scores: Mapping[str, Sequence[float]],
    profiles: Mapping[str, CostMatrix] = PROFILES,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, ProfileReport]:
    """Score a detector's anomaly scores (per series path) under each profile.

    ``thresholds`` fixes the threshold per profile instead of optimising it.
    """
    kept = {s.path: scorable_scores(s, scores[s.path]) for s in corpus}
    null = {s.path: [0.5] * len(kept[s.path]) for s in corpus}
    reports = {}
    for name, costs in profiles.items():
        points = {s.path: scorable_points(s.timestamps, s.windows, costs) for s in corpus}
        fixed = None if thresholds is None else thresholds.get(name)
        chosen = optimize_threshold(points, kept, costs).threshold if fixed is None else fixed
        null_threshold = optimize_threshold(points, null, costs).threshold
        reports[name] = _report(name, corpus, points, kept, null, chosen, null_threshold, costs)
    return reports


def _report(
    name: str,
    corpus: Sequence[LabelledSeries],
    points: Mapping[str, Sequence[PointWeight]],
    kept: Mapping[str, Sequence[float]],
    null: Mapping[str, Sequence[float]],
    threshold: float,
    null_threshold: float,
    costs: CostMatrix,
) -> ProfileReport:
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    report = ProfileReport(name, threshold, 0.0, 0.0, 0.0)
    for series in corpus:
        got = score_at(points[series.path], kept[series.path], threshold, costs)
        base = score_at(points[series.path], null[series.path], null_threshold, costs).score
        windows = len({p.window for p in points[series.path] if p.window is not None})
        report.series[series.path] = got
        for key in (series.category, "*"):
            totals[key][0] += got.score
            totals[key][1] += base
            totals[key][2] += windows * costs.tp
    report.raw, report.null, report.perfect = totals.pop("*")
    for category, (raw, base, perfect) in sorted(totals.items()):
        scored = normalize(raw, base, perfect) if perfect != base else None
        report.categories[category] = {"raw": raw, "normalized": scored}
    return report

"""NAB's per-point weights and the score of a series at a threshold.

Every point of a series gets a weight S(t) from the labelled anomaly windows (the same rules as
NAB's ``Sweeper``):

* inside a window, a detection is a true positive worth ``tp * sigma(p) / sigma(-1)`` where ``p``
  runs from -1 at the window's left edge to about 0 at its right edge and
  ``sigma(p) = 2 / (1 + e^(5p)) - 1`` (the scaled sigmoid): earlier is better;
* outside, a detection is a false positive worth ``fp * sigma(d)``, where ``d`` is the distance
  past the previous window's right edge in window widths (``-fp`` before any window, and
  ``-fp`` more than three widths past one);
* the first 15% of a series (at most 750 points) is the probationary period: not scored.

A series' score at threshold ``t`` (detections: anomaly score ``>= t``) sums the weights of
false-positive detections, the best weight of the detections in each window, and ``-fn`` for
each window without a detection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

#: Share of a series (at most ``PROBATION_CAP`` points) that detectors may use to learn.
PROBATION_SHARE = 0.15
PROBATION_CAP = PROBATION_SHARE * 5000


@dataclass(frozen=True)
class CostMatrix:
    """A profile's weights for true positives, false positives and missed windows."""

    tp: float = 1.0
    fp: float = 0.11
    fn: float = 1.0


@dataclass(frozen=True)
class PointWeight:
    """One scorable point: its weight S(t) and the window it falls in (``None``: outside)."""

    weight: float
    window: int | None


def scaled_sigmoid(position: float) -> float:
    """NAB's scaled sigmoid: 0.987 at -1 (a window's left edge), 0 at 0, -1 past 3."""
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def probation_length(points: int) -> float:
    """How many leading points of a series NAB does not score."""
    return min(math.floor(PROBATION_SHARE * points), PROBATION_CAP)


Window = tuple[datetime, datetime]


def point_weights(
    timestamps: Sequence[datetime], windows: Sequence[Window], costs: CostMatrix
) -> list[float]:
    """S(t) of every point (probationary points included), as NAB writes it per row."""
    index = {ts: i for i, ts in enumerate(timestamps)}
    spans = [(index[start], index[end]) for start, end in windows]
    max_tp = scaled_sigmoid(-1.0)
    weights: list[float] = []
    span_at = 0
    inside: tuple[int, int] | None = None
    previous: tuple[int, int] | None = None
    for i in range(len(timestamps)):
        if inside is None and span_at < len(spans) and i == spans[span_at][0]:
            inside, span_at = spans[span_at], span_at + 1
        if inside is not None:
            left, right = inside
            width = right - left + 1
            weights.append(scaled_sigmoid(-(right - i + 1) / width) * costs.tp / max_tp)
            if i == right:
                previous, inside = inside, None
        elif previous is None:
            weights.append(-1.0 * costs.fp)
        else:
            left, right = previous
            distance = abs(right - i) / (right - left)
            weights.append(scaled_sigmoid(distance) * costs.fp)
    return weights


def scorable_points(
    timestamps: Sequence[datetime], windows: Sequence[Window], costs: CostMatrix
) -> list[PointWeight]:
    """The points NAB scores (after the probationary period), each with its window number."""
    weights = point_weights(timestamps, windows, costs)
    index = {ts: i for i, ts in enumerate(timestamps)}
    window_of: dict[int, int] = {}
    for number, (start, end) in enumerate(windows):
        window_of.update((i, number) for i in range(index[start], index[end] + 1))
    skip = probation_length(len(timestamps))
    return [PointWeight(weight, window_of.get(i)) for i, weight in enumerate(weights) if i >= skip]


@dataclass(frozen=True)
class SeriesScore:
    """A series' raw NAB score at one threshold, with its confusion counts (points)."""

    score: float
    tp: int
    fp: int
    fn: int
    tn: int


def score_at(
    points: Sequence[PointWeight], scores: Sequence[float], threshold: float, costs: CostMatrix
) -> SeriesScore:
    """Score a series: ``scores`` are the detector's anomaly scores of the scorable points."""
    best: dict[int, float] = {p.window: -costs.fn for p in points if p.window is not None}
    false_positives = 0.0
    tp = fp = fn = tn = 0
    for point, score in zip(points, scores, strict=True):
        detected = score >= threshold
        if point.window is None:
            if detected:
                false_positives += point.weight
                fp += 1
            else:
                tn += 1
        elif detected:
            best[point.window] = max(best[point.window], point.weight)
            tp += 1
        else:
            fn += 1
    return SeriesScore(false_positives + sum(best.values()), tp, fp, fn, tn)


def contributions(
    timestamps: Sequence[datetime],
    windows: Sequence[Window],
    scores: Sequence[float],
    threshold: float,
    costs: CostMatrix,
) -> list[float]:
    """Each point's share of the series score at ``threshold``: NAB's published S(t) column.

    A window's share (its first detection's weight, or ``-fn`` when it has none) sits on the
    window's first point; a false positive's weight on its own point; every other point has 0.
    The shares sum to :func:`score_at`'s score.
    """
    weights = point_weights(timestamps, windows, costs)
    skip = probation_length(len(timestamps))
    index = {ts: i for i, ts in enumerate(timestamps)}
    shares = [0.0] * len(timestamps)
    inside: set[int] = set()
    for start, end in windows:
        left, right = index[start], index[end]
        inside.update(range(left, right + 1))
        scorable = [i for i in range(left, right + 1) if i >= skip]
        if scorable:
            hit = next((i for i in scorable if scores[i] >= threshold), None)
            shares[left] = -costs.fn if hit is None else weights[hit]
    for i, score in enumerate(scores):
        if i >= skip and i not in inside and score >= threshold:
            shares[i] = weights[i]
    return shares

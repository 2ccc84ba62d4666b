"""Offline use of the detectors: score a series file, or a whole NAB corpus.

``nab_report`` runs a detector over every series under ``DIR/data/`` (each from a fresh
detector, in time order, as a stream would deliver it) and scores the result with NAB's rules
(:mod:`.nab.evaluation`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from skybridge.apps.anomaly.detectors import DEFAULT, new_detector
from skybridge.apps.anomaly.nab.corpus import PROFILES, LabelledSeries, load_corpus
from skybridge.apps.anomaly.nab.evaluation import evaluate
from skybridge.apps.anomaly.points import check_value
from skybridge.core.errors import ValidationError

#: The Unix epoch as a naive UTC time.
EPOCH = datetime(1970, 1, 1)


def epoch(moment: datetime) -> float:
    """Unix seconds of a naive UTC time (an aware time's wall clock is read as UTC).

    A subtraction: four times cheaper than ``replace(tzinfo=UTC).timestamp()`` per point.
    """
    return (moment.replace(tzinfo=None) - EPOCH).total_seconds()


def detector_scores(
    timestamps: Sequence[datetime], values: Sequence[float], detector: str, season: str = "daily"
) -> tuple[list[float], list[str | None]]:
    """Scores of every point by a fresh ``detector``, and the reason of each point it scored
    at 0.5 or more (``None`` elsewhere, to keep the pass cheap).

    Raises:
        ValidationError: ``timestamps`` and ``values`` differ in length, or a value is not a
            finite number within +-1e150 (the message names its index); nothing is scored.
    """
    if len(timestamps) != len(values):
        raise ValidationError(
            f"{len(timestamps)} timestamps but {len(values)} values",
            hint="give one timestamp per value",
        )
    try:
        checked = [check_value(value, "values") for value in values]
    except ValidationError:  # again, naming the index (formatting it for every value is slow)
        checked = [check_value(value, f"values[{i}]") for i, value in enumerate(values)]
    model = new_detector(detector, {"season": season})
    scores: list[float] = []
    reasons: list[str | None] = []
    for moment, value in zip(timestamps, checked, strict=True):
        score = model.update(epoch(moment), value)
        scores.append(score)
        reasons.append(model.explain() if score >= 0.5 else None)
    return scores, reasons


def nab_report(
    root: str | Path,
    detector: str = DEFAULT,
    progress: Callable[[LabelledSeries], None] | None = None,
) -> dict[str, Any]:
    """NAB's scores of ``detector`` on the corpus at ``root`` (a path or its text), overall
    and per category.

    The top-level keys ``standard``, ``reward_low_fp`` and ``reward_low_fn`` are the overall
    normalised scores; ``categories`` has them per category (``None`` where a category has no
    labelled window), ``thresholds`` the optimised threshold per profile.
    """
    new_detector(detector)  # an unknown name fails before the corpus is read
    corpus = load_corpus(Path(root))
    scores = {}
    for series in corpus:
        scores[series.path] = detector_scores(series.timestamps, series.values, detector)[0]
        if progress is not None:
            progress(series)
    reports = evaluate(corpus, scores)
    result: dict[str, Any] = {name: round(r.normalized, 3) for name, r in reports.items()}
    categories = sorted({s.category for s in corpus})
    result |= {
        "detector": detector,
        "series": len(corpus),
        "points": sum(len(s.values) for s in corpus),
        "windows": sum(len(s.windows) for s in corpus),
        "thresholds": {name: r.threshold for name, r in reports.items()},
        "raw": {name: r.raw for name, r in reports.items()},
        "categories": {
            c: {name: _rounded(r.categories[c]["normalized"]) for name, r in reports.items()}
            for c in categories
        },
    }
    return result


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


PROFILE_NAMES = tuple(PROFILES)

"""One series' model: its rolling features and its detector, kept as one JSON document.

:class:`SeriesModel` turns each point into a ``raw_events`` row. The pipeline keeps one per
series in its exactly-once handler state; the scheduled job keeps one per series in the
``anomaly_job_state`` table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from skybridge.apps.anomaly.detectors import new_detector
from skybridge.apps.anomaly.detectors.base import Detector
from skybridge.apps.anomaly.features import Features, SeriesFeatures
from skybridge.apps.anomaly.points import Point


@dataclass
class SeriesModel:
    """Features and detector of one series."""

    detector_name: str
    features: SeriesFeatures
    detector: Detector

    @classmethod
    def new(cls, detector: str, season: str) -> SeriesModel:
        return cls(detector, SeriesFeatures(), new_detector(detector, {"season": season}))

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None, detector: str, season: str) -> SeriesModel:
        """The model in ``doc``; a new one when there is none or its detector changed."""
        if not doc or doc.get("detector") != detector:
            return cls.new(detector, season)
        state = new_detector(detector, doc.get("state") or {"season": season})
        return cls(detector, SeriesFeatures.from_doc(doc.get("features", {})), state)

    def to_doc(self) -> dict[str, Any]:
        return {
            "detector": self.detector_name,
            "features": self.features.to_doc(),
            "state": self.detector.to_state(),
        }

    def features_of(self, point: Point, season: str, span: int) -> Features:
        """The point's features; the rolling state learns the point."""
        features = self.features.compute(point, season)
        self.features.learn(point, span)
        return features

    def score(self, point: Point, threshold: float) -> tuple[float, bool, str | None]:
        """(score, flagged, reason): the detector scores the point and learns it."""
        score = self.detector.update(point.epoch, point.value)
        flagged = score >= threshold
        return score, flagged, self.detector.explain() if flagged else None


def event_row(point: Point, features: Features, detector: str) -> dict[str, Any]:
    """The ``raw_events`` row of a point, not yet scored."""
    return {
        "event_id": point.event_id,
        "series": point.series,
        "event_time": point.time,
        "metric_value": point.value,
        "feature1": features.delta,
        "feature2": features.ratio,
        "rolling_mean": features.mean,
        "rolling_std": features.std,
        "season_position": features.season_position,
        "processed_flag": "N",
        "anomaly_flag": "N",
        "score": None,
        "reason": None,
        "detector": detector,
    }


def scored(row: dict[str, Any], score: float, flagged: bool, reason: str | None) -> dict[str, Any]:
    """``row`` with its score, flag and reason."""
    return {**row, "score": score, "anomaly_flag": "Y" if flagged else "N", "reason": reason}


def late_row(point: Point, features: Features, detector: str, last: datetime) -> dict[str, Any]:
    """The row of a late point: stored, not scored, nothing to alert."""
    row = event_row(point, features, detector)
    reason = f"late event: the series had already reached {last.isoformat()}; not scored"
    return {**row, "processed_flag": "Y", "reason": reason}

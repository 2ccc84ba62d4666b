"""Per-series features in event time, and the state that carries them from event to event.

The original looked the previous value up by the *new* event's id, never found it and divided
by 1.0; here the previous value is the series' own last value in event time. Features of a
point: ``feature1`` (change from the previous value), ``feature2`` (ratio to it, ``None`` when it
is 0 or the ratio overflows), an exponentially weighted rolling mean and deviation (span
``feature_span``), and the seasonal position (share of the day or week elapsed, UTC).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from skybridge.apps.anomaly.points import Point

SECONDS = {"daily": 86400.0, "weekly": 7 * 86400.0}
#: 1970-01-01 was a Thursday; weekly positions start on Monday 00:00 UTC.
WEEK_OFFSET = 3 * 86400.0


@dataclass
class Features:
    """What is computed for one point before it is scored."""

    delta: float | None
    ratio: float | None
    mean: float | None
    std: float | None
    season_position: float


@dataclass
class SeriesFeatures:
    """The rolling feature state of one series (JSON round-trip with ``to_doc``/``from_doc``)."""

    count: int = 0
    last_time: float | None = None
    last_value: float | None = None
    last_id: str | None = None
    mean: float = 0.0
    var: float = 0.0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SeriesFeatures:
        return cls(**{k: doc[k] for k in cls.__dataclass_fields__ if k in doc})

    def to_doc(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def compute(self, point: Point, season: str) -> Features:
        """The features of ``point`` against what the series saw before it."""
        previous = self.last_value
        delta = None if previous is None else point.value - previous
        ratio = None if previous is None or previous == 0.0 else point.value / previous
        if ratio is not None and not math.isfinite(ratio):
            ratio = None  # a tiny previous value: the quotient overflows, like a 0 it has none
        mean = self.mean if self.count else None
        std = math.sqrt(self.var) if self.count > 1 else None
        period = SECONDS[season]
        offset = WEEK_OFFSET if season == "weekly" else 0.0
        position = ((point.epoch + offset) % period) / period
        return Features(delta, ratio, mean, std, position)

    def learn(self, point: Point, span: int) -> None:
        """Fold ``point`` into the rolling mean and variance (EWMA of span ``span``)."""
        alpha = 2.0 / (span + 1.0) if self.count else 1.0
        diff = point.value - self.mean
        self.mean += alpha * diff
        self.var = (1.0 - alpha) * (self.var + alpha * diff * diff)
        self.count += 1
        self.last_time, self.last_value, self.last_id = point.epoch, point.value, point.event_id

    def is_repeat_or_late(self, point: Point) -> bool:
        """Whether ``point`` is not after the series' last point (a repeat or a late event)."""
        return self.last_time is not None and point.epoch <= self.last_time

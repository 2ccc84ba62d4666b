"""The combined detector (the default): level and season together, each incident flagged once.

Per point:

1. the level deviation: robust z against the rolling median/MAD (:mod:`.robust`);
2. the seasonal deviation: robust z of the change against one period earlier
   (:mod:`.seasonal`), counted only where the series is seasonal (its residuals spread less
   than ``gate`` times its values);
3. the strength is the larger of the two, and it is *novel* only when it exceeds every strength
   of the last ``novelty`` points: a level shift or a long excursion is flagged at its start,
   not at every point of it, so a sustained anomaly raises one flag (the score of the repeats
   is 0, and the reason says what they repeat).
"""

from __future__ import annotations

from typing import Any, Self

from skybridge.apps.anomaly.detectors.base import Detector, strength_score
from skybridge.apps.anomaly.detectors.robust import FLOOR, RobustBaseline
from skybridge.apps.anomaly.detectors.rolling import RecentMaximum
from skybridge.apps.anomaly.detectors.seasonal import PERIODS, UNITS, SeasonalResidual

WINDOW = 2000
NOVELTY = 1000
GATE = 0.7


class Combined(Detector):
    """Level and seasonal robust z, flagged when novel over the last ``novelty`` points."""

    name = "combined"
    summary = "Level + seasonal robust z, each excursion flagged once (default)"

    def __init__(self, state: dict[str, Any] | None = None, *, season: str = "daily") -> None:
        state = state or {}
        self.season = str(state.get("season", season))
        level = state.get("level", {})
        self.level = RobustBaseline(
            int(level.get("window", WINDOW)),
            list(level.get("values", [])),
            level.get("low"),
            level.get("high"),
        )
        self.seasonal = SeasonalResidual(PERIODS[self.season], state.get("seasonal", {}))
        recent = state.get("recent", {})
        self.recent = RecentMaximum(
            int(recent.get("size", NOVELTY)), recent.get("queue", []), int(recent.get("seen", 0))
        )
        self._why: tuple[str, float, float] = ("level", 0.0, 0.0)
        self._seen = (0.0, 0.0)  # the last value and the rolling median it was scored against

    def update(self, time: float, value: float) -> float:
        floor = FLOOR * ((self.level.high or 0.0) - (self.level.low or 0.0))
        z_level = self.level.deviation(value, FLOOR)
        z_season = self.seasonal.deviation(time, value, floor)
        kind, z = "level", z_level
        if z_season is not None and z_season > z_level and self._seasonal(floor):
            kind, z = "season", z_season
        before = self.recent.value()
        self.recent.add(z)
        self._why = (kind, z, before)
        self._seen = (value, self.level.rolling.median() if len(self.level.rolling) else value)
        self.level.learn(value)
        self.seasonal.learn(time, value)
        return strength_score(z) if z > before else 0.0

    def _seasonal(self, floor: float) -> bool:
        """Whether the season predicts the value better than the level does."""
        if not len(self.level.rolling):
            return False
        return self.seasonal.spread(floor) < GATE * max(self.level.rolling.scale(), 1e-12)

    def explain(self) -> str:
        kind, z, before = self._why
        if kind == "season":
            residual = self.seasonal.residual or 0.0
            what = (
                f"{residual:+g} against the same time a {UNITS[self.season]} earlier is "
                f"{z:.1f} robust deviations"
            )
        else:
            value, median = self._seen
            side = "above" if value >= median else "below"
            what = f"{value:g} is {z:.1f} robust deviations {side} the rolling median {median:g}"
        if z <= before:
            return (
                f"{what}; repeats a deviation of {before:.1f} in the last {self.recent.size} points"
            )
        return what

    def to_state(self) -> dict[str, Any]:
        return {
            "season": self.season,
            "level": {"window": self.level.rolling.size, **self.level.to_state()},
            "seasonal": self.seasonal.to_state(),
            "recent": {
                "size": self.recent.size,
                "queue": list(self.recent.queue),
                "seen": self.recent.seen,
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(state)

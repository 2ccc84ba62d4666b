"""The combined detector (the default): level and season together, each incident flagged once.

Per point:

1. the level deviation: robust z against the rolling median/MAD (:mod:`.robust`);
2. the seasonal deviation: robust z of the change against one period earlier
   (:mod:`.seasonal`), counted only where the series is seasonal (its residuals spread less
   than ``gate`` times its values);
3. the strength is the larger of the two, and it is *novel* only when it exceeds every strength
   of the last ``novelty`` points: a level shift or a long excursion is flagged at its start,
   not at every point of it (the score of the repeats is 0, and the reason says what they
   repeat);
4. after a flag (a novel strength of at least ``HALF_STRENGTH``, score 0.5, the original
   design's ``|z| > 3``) the next ``quiet`` points score 0: an excursion that keeps growing
   raises one flag, not one per new high;
5. a flagged value is not kept as the seasonal reference of the next period, so a spike is
   not flagged again a day later, when the normal value after it differs from it as much.

The per-point path is one method with the rolling structures read in place (no per-point
objects besides the window entries), as the pipeline and ``anomaly eval`` call it per event.
"""

from __future__ import annotations

from typing import Any, Self

from skybridge.apps.anomaly.detectors.base import HALF_STRENGTH, Detector
from skybridge.apps.anomaly.detectors.robust import FLOOR, WARMUP, RobustBaseline
from skybridge.apps.anomaly.detectors.rolling import RecentMaximum
from skybridge.apps.anomaly.detectors.seasonal import PERIODS, UNITS, SeasonalResidual

WINDOW = 2000
NOVELTY = 700
QUIET = 120
GATE = 0.7


class Combined(Detector):
    """Level and seasonal robust z, flagged when novel, then quiet for ``quiet`` points."""

    name = "combined"
    summary = "Level + seasonal robust z, each excursion flagged once"

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
        self.quiet = int(state.get("quiet", QUIET))
        self.quiet_left = int(state.get("quiet_left", 0))
        self._why: tuple[str, float, float, bool] = ("level", 0.0, 0.0, False)
        self._seen = (0.0, 0.0)  # the last value and the rolling median it was scored against

    def score_and_learn(self, time: float, value: float) -> float:
        level, seasonal = self.level, self.seasonal
        rolling = level.rolling
        count = len(rolling.values)
        low, high = level.low, level.high
        floor = FLOOR * (high - low) if low is not None and high is not None else 0.0
        median = rolling.median() if count else value
        z = 0.0
        if count >= WARMUP and low is not None:
            z = abs(value - median) / max(rolling.scale(), floor, 1e-12)
        kind = "level"
        z_season = seasonal.deviation(time, value, floor)
        if z_season is not None and z_season > z and self._seasonal(floor):
            kind, z = "season", z_season
        before = self.recent.value()
        self.recent.add(z)
        quiet = self.quiet_left > 0
        self._why = (kind, z, before, quiet)
        self._seen = (value, median)
        level.learn(value)
        # A flagged value is no reference one period on: its echo would be flagged again.
        seasonal.learn(time, value, reference=quiet or not z > before or z < HALF_STRENGTH)
        if quiet:
            self.quiet_left -= 1
            return 0.0
        if not z > before:  # also NaN
            return 0.0
        if z >= HALF_STRENGTH:
            self.quiet_left = self.quiet
        return z / (z + HALF_STRENGTH) if z != float("inf") else 1.0

    def _seasonal(self, floor: float) -> bool:
        """Whether the season predicts the value better than the level does."""
        if not len(self.level.rolling):
            return False
        return self.seasonal.spread(floor) < GATE * max(self.level.rolling.scale(), 1e-12)

    def explain(self) -> str:
        kind, z, before, quiet = self._why
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
        if quiet:
            return f"{what}; within {self.quiet} points of the last flag"
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
            "quiet": self.quiet,
            "quiet_left": self.quiet_left,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(state)

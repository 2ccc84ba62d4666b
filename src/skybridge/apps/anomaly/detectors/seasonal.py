"""Seasonal baseline: a value against the same moment one period (a day, a week) earlier.

The residual ``value - value one period ago`` is scored by its robust z over the last residuals.
Inside the combined detector it only counts where the series is seasonal: where the residuals
spread less than ``gate`` times the values themselves (the season predicts the value better
than the level does).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Self

from skybridge.apps.anomaly.detectors.base import Detector, strength_score
from skybridge.apps.anomaly.detectors.rolling import RollingWindow

PERIODS = {"daily": 86400.0, "weekly": 7 * 86400.0}
UNITS = {"daily": "day", "weekly": "week"}
WINDOW = 2000
WARMUP = 50
#: A reference value older than the period by more than this share of it is too stale.
STALE = 0.05


class SeasonalResidual:
    """Values of the last period, and the rolling residuals against them."""

    def __init__(self, period: float, state: dict[str, Any]) -> None:
        self.period = period
        self.stale = STALE * period
        self.history: deque[tuple[float, float | None]] = deque(
            (float(t), None if v is None else float(v)) for t, v in state.get("history", [])
        )
        self.residuals = RollingWindow(int(state.get("window", WINDOW)), state.get("residuals", []))
        self.residual: float | None = None

    def deviation(self, time: float, value: float, floor: float = 0.0) -> float | None:
        """Robust z of the residual at ``time`` (``None``: no reference or still learning)."""
        history, due = self.history, time - self.period
        while len(history) > 1 and history[1][0] <= due:
            history.popleft()
        self.residual = None
        if not history:
            return None
        then, earlier = history[0]
        if earlier is None or then > due or due - then > self.stale:
            return None
        residual = self.residual = value - earlier
        residuals = self.residuals
        if len(residuals.values) < WARMUP:
            return None
        return abs(residual - residuals.median()) / max(residuals.scale(), floor, 1e-12)

    def learn(self, time: float, value: float, *, reference: bool = True) -> None:
        """Keep the point's residual, and its value as the reference one period on (an
        outlier's value is kept as no reference, so a spike is not flagged again as its echo)."""
        if self.residual is not None:
            self.residuals.add(self.residual)
        self.history.append((time, value if reference else None))

    def spread(self, floor: float = 0.0) -> float:
        """The residuals' robust deviation (at least ``floor``; infinite while learning)."""
        return max(self.residuals.scale(), floor) if len(self.residuals) >= WARMUP else math.inf

    def to_state(self) -> dict[str, Any]:
        return {
            "history": [list(p) for p in self.history],
            "residuals": list(self.residuals.values),
            "window": self.residuals.size,
        }


class SeasonalBaseline(Detector):
    """Robust z of the change against the same moment one period ago."""

    name = "seasonal"
    summary = "Seasonal baseline: the value against the same time a day (or week) earlier"

    def __init__(self, state: dict[str, Any] | None = None, *, season: str = "daily") -> None:
        state = state or {}
        self.season = str(state.get("season", season))
        self.seasonal = SeasonalResidual(PERIODS[self.season], state)
        self._z = 0.0

    def score_and_learn(self, time: float, value: float) -> float:
        z = self.seasonal.deviation(time, value)
        self._z = z or 0.0
        self.seasonal.learn(time, value)
        return strength_score(self._z)

    def explain(self) -> str:
        residual = self.seasonal.residual or 0.0
        unit = UNITS[self.season]
        return (
            f"{residual:+g} against the same time a {unit} earlier: {self._z:.1f} robust deviations"
        )

    def to_state(self) -> dict[str, Any]:
        return {"season": self.season, **self.seasonal.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(state)

"""Rolling robust z: how far a value is from the rolling median, in robust deviations.

``|value - median| / max(1.4826 * MAD, floor * range)`` over the last ``window`` values, where
``range`` is the spread of everything seen so far: the floor keeps flat or integer-valued
series (whose MAD is often 0) from turning every small step into an anomaly.
"""

from __future__ import annotations

from typing import Any, Self

from skybridge.apps.anomaly.detectors.base import Detector, strength_score
from skybridge.apps.anomaly.detectors.rolling import RollingWindow

WINDOW = 2000
FLOOR = 0.01
WARMUP = 10


class RobustBaseline:
    """The rolling median/MAD of one series and the spread seen so far."""

    def __init__(self, window: int, values: list[float], low: float | None, high: float | None):
        self.rolling = RollingWindow(window, values)
        self.low, self.high = low, high

    def deviation(self, value: float, floor: float) -> float:
        """Robust z of ``value`` (0 until ``WARMUP`` values were seen)."""
        if len(self.rolling) < WARMUP or self.low is None or self.high is None:
            return 0.0
        spread = max(self.rolling.scale(), floor * (self.high - self.low), 1e-12)
        return abs(value - self.rolling.median()) / spread

    def learn(self, value: float) -> None:
        self.rolling.add(value)
        if self.low is None or value < self.low:
            self.low = value
        if self.high is None or value > self.high:
            self.high = value

    def to_state(self) -> dict[str, Any]:
        return {"values": list(self.rolling.values), "low": self.low, "high": self.high}


class RobustZ(Detector):
    """Robust z of each value against the rolling median and MAD of the last values."""

    name = "robust-z"
    summary = "Rolling robust z (median/MAD of the last 2,000 values)"

    def __init__(self, state: dict[str, Any] | None = None, *, window: int = WINDOW) -> None:
        state = state or {}
        self.window = int(state.get("window", window))
        self.baseline = RobustBaseline(
            self.window, list(state.get("values", [])), state.get("low"), state.get("high")
        )
        self._last = (0.0, 0.0, 0.0)

    def score_and_learn(self, time: float, value: float) -> float:
        z = self.baseline.deviation(value, FLOOR)
        self._last = (value, z, self.baseline.rolling.median() if len(self.baseline.rolling) else 0)
        self.baseline.learn(value)
        return strength_score(z)

    def explain(self) -> str:
        value, z, median = self._last
        side = "above" if value >= median else "below"
        return (
            f"{value:g} is {z:.1f} robust deviations {side} the rolling median {median:g} "
            f"(last {self.window} values)"
        )

    def to_state(self) -> dict[str, Any]:
        return {"window": self.window, **self.baseline.to_state()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(state)

"""Gaussian detectors: NAB's windowed Gaussian and the original design's global z-score.

* :class:`WindowedGaussian` reimplements NAB's ``windowedGaussian`` detector: the score of a
  value is ``1 - Q`` (the two-sided normal tail probability) under the mean and population
  deviation of the previous values, over a window that grows to 6,400 points and then slides
  in steps of 100. It reproduces NAB's published scores.
* :class:`GlobalZScore` is the original design's rule kept as a reference: ``|z|`` of the value
  against the mean and deviation of *everything* seen (computed in O(1) per point with
  Welford's method, where the original recomputed the whole table per row).
"""

from __future__ import annotations

import math
from typing import Any, Self

from skybridge.apps.anomaly.detectors.base import Detector, strength_score

WINDOW, STEP = 6400, 100
FLOOR_STD = 0.000001


def tail_score(value: float, mean: float, std: float) -> float:
    """``1 - Q(|value - mean| / std)``: NAB's windowed-Gaussian anomaly score."""
    z = abs(value - mean) / std
    return 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population deviation (two passes, exact sums); deviation 0 becomes 1e-6."""
    mean = math.fsum(values) / len(values)
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
    return mean, std if std != 0.0 else FLOOR_STD


class WindowedGaussian(Detector):
    """NAB's windowed Gaussian: tail probability over the last 6,400 values (steps of 100)."""

    name = "windowed-gaussian"
    summary = "NAB's windowed Gaussian (reference; scores as NAB publishes them)"

    def __init__(self, window: list[float] | None = None, pending: list[float] | None = None):
        self.window = window or []
        self.pending = pending or []
        self.mean, self.std = mean_std(self.window) if self.window else (0.0, 1.0)
        self._last = (0.0, 0.0, 0.0)

    def score_and_learn(self, time: float, value: float) -> float:
        score = tail_score(value, self.mean, self.std) if self.window else 0.0
        self._last = (value, self.mean, self.std)
        if len(self.window) < WINDOW:
            self.window.append(value)
            self.mean, self.std = mean_std(self.window)
        else:
            self.pending.append(value)
            if len(self.pending) == STEP:
                self.window = self.window[STEP:] + self.pending
                self.pending = []
                self.mean, self.std = mean_std(self.window)
        return score

    def explain(self) -> str:
        value, mean, std = self._last
        z = (value - mean) / std if std else 0.0
        return f"{value:g} is {z:+.1f} deviations from the windowed mean {mean:g}"

    def to_state(self) -> dict[str, Any]:
        return {"window": self.window, "pending": self.pending}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(list(state.get("window", [])), list(state.get("pending", [])))


class GlobalZScore(Detector):
    """The original design's rule: ``|z|`` against every value seen so far."""

    name = "global-z"
    summary = "The original design's |z| over all history (reference; blind to level shifts)"

    def __init__(self, count: int = 0, mean: float = 0.0, m2: float = 0.0) -> None:
        self.count, self.mean, self.m2 = count, mean, m2
        self._z = 0.0

    def score_and_learn(self, time: float, value: float) -> float:
        std = math.sqrt(self.m2 / (self.count - 1)) if self.count > 1 else 0.0
        self._z = abs(value - self.mean) / std if std > 0 else 0.0
        self.count += 1
        delta = value - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (value - self.mean)
        return strength_score(self._z)

    def explain(self) -> str:
        return f"|z| = {self._z:.1f} against the mean {self.mean:g} of all {self.count} values"

    def to_state(self) -> dict[str, Any]:
        return {"count": self.count, "mean": self.mean, "m2": self.m2}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        return cls(
            int(state.get("count", 0)), float(state.get("mean", 0.0)), float(state.get("m2", 0.0))
        )

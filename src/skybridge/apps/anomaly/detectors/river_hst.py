"""River's Half-Space Trees (the maintained online-learning library), on value and change.

Features are the value and its change from the previous value, scaled to [0, 1] by River's
``MinMaxScaler`` as Half-Space Trees expect. River models are Python objects, not JSON, so this
detector serves evaluation and ``anomaly detect``; the pipeline, which keeps detectors in JSON
state, refuses it (``json_state`` is false).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from skybridge.apps.anomaly.detectors.base import Detector
from skybridge.core.errors import MissingDependency


def _river() -> Any:
    try:
        from river import anomaly, compose, preprocessing
    except ImportError:
        raise MissingDependency("river", "anomaly", feature="the river-hst detector") from None
    return anomaly, compose, preprocessing


class RiverHalfSpaceTrees(Detector):
    """River ``HalfSpaceTrees`` behind ``MinMaxScaler`` on (value, change)."""

    name = "river-hst"
    summary = "River's Half-Space Trees on value and change (evaluation and detect only)"
    json_state: ClassVar[bool] = False

    def __init__(self, *, trees: int = 10, height: int = 8, window: int = 250) -> None:
        anomaly, compose, preprocessing = _river()
        self.model: Any = compose.Pipeline(
            preprocessing.MinMaxScaler(),
            anomaly.HalfSpaceTrees(n_trees=trees, height=height, window_size=window, seed=42),
        )
        self.previous: float | None = None
        self._score = 0.0

    def score_and_learn(self, time: float, value: float) -> float:
        change = 0.0 if self.previous is None else value - self.previous
        features = {"value": value, "change": change}
        self._score = float(self.model.score_one(features))
        self.model.learn_one(features)
        self.previous = value
        return min(1.0, max(0.0, self._score))

    def explain(self) -> str:
        return f"Half-Space Trees mass score {self._score:.3f} for value and change"

    def to_state(self) -> dict[str, Any]:
        return {"previous": self.previous}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """A new model: River's trees cannot be restored from JSON (``json_state`` is false)."""
        detector = cls()
        detector.previous = state.get("previous")
        return detector

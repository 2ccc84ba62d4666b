"""The detector contract: one point in, an anomaly score in [0, 1] out, state as JSON.

A detector scores each new value against what it has seen of its series so far, then learns
it: ``update(time, value) -> score``. ``update`` first checks the value as events are checked
(:func:`~skybridge.apps.anomaly.points.check_value`: a finite number within +-1e150), so one
``inf`` cannot blind a detector for good; each detector implements the rest in
``score_and_learn``. ``explain()`` says, in a sentence, why the last point scored as it did
(called only for flagged points, so detectors keep the per-point path cheap).
``to_state()``/``from_state()`` round-trip the detector through JSON, which is how the
pipeline keeps one per series in its exactly-once handler state.

Scores are z-like strengths mapped by :func:`strength_score`: 0.5 is the original design's
``|z| > 3``, 0.75 is ``|z| > 9``; they never saturate, so NAB's threshold sweep can tell any two
apart.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Self

from skybridge.apps.anomaly.points import check_value

#: The strength (a z-score) that maps to score 0.5.
HALF_STRENGTH = 3.0


def strength_score(strength: float) -> float:
    """Map a non-negative strength (a z-score) to [0, 1): ``z / (z + 3)``."""
    if not strength > 0.0:  # also NaN
        return 0.0
    if math.isinf(strength):
        return 1.0
    return strength / (strength + HALF_STRENGTH)


def score_strength(score: float) -> float:
    """The strength a score stands for (the inverse of :func:`strength_score`)."""
    if score >= 1.0:
        return math.inf
    return HALF_STRENGTH * score / (1.0 - score) if score > 0 else 0.0


class Detector(ABC):
    """An online, per-series anomaly detector."""

    #: The name ``--detector`` and ``[anomaly] detector`` use.
    name: ClassVar[str]
    #: One line for ``skybridge anomaly detectors``.
    summary: ClassVar[str]

    def update(self, time: float, value: float) -> float:
        """Score ``value`` (at Unix ``time``) against the history, then learn it.

        Raises:
            ValidationError: ``value`` is not a finite number within +-1e150 (nothing is
                learnt).
        """
        return self.score_and_learn(time, check_value(value, "value"))

    @abstractmethod
    def score_and_learn(self, time: float, value: float) -> float:
        """:meth:`update` for a checked value."""

    @abstractmethod
    def explain(self) -> str:
        """Why the last point scored as it did (a sentence with the numbers)."""

    @abstractmethod
    def to_state(self) -> dict[str, Any]:
        """Everything the detector knows, as JSON-ready data."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Self:
        """A detector that continues from ``state`` (``{}``: a new one)."""

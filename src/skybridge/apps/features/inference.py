"""Predictions: an entity's current features plus the request's input -> the model.

The model's input row is built from ``columns`` (the model's columns: ``[features]
model_features``, the model's own, or the view's numeric features): each column is the
request input of that name if given, else the feature. A missing feature follows the missing
policy: ``default`` fills the feature's ``default`` (else 0) and says so in ``filled``,
``refuse`` raises ``ValidationError`` naming the features and why, ``pass`` sends it as missing.
The answer carries the features used, their freshness and what was missing.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.features.config import MissingPolicy
from skybridge.apps.features.definitions import FeatureView
from skybridge.apps.features.vector import FeatureVector
from skybridge.core.clock import iso
from skybridge.core.errors import ValidationError

NUMERIC = frozenset({"count", "sum", "min", "max", "mean", "distinct", "ratio", "last_time"})


def default_columns(view: FeatureView) -> list[str]:
    """The view's features that are numbers whatever the events hold (windows and ratios)."""
    return [f.name for f in view.features if f.agg in NUMERIC and f.agg != "last_time"]


@dataclass
class Prediction:
    """A model's answer with everything that went into it."""

    prediction: Any
    prediction_id: str
    model: str
    vector: FeatureVector
    row: dict[str, float | None]
    filled: list[str] = field(default_factory=list)
    latency_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "prediction": self.prediction,
            "prediction_id": self.prediction_id,
            "model": self.model,
            "view": self.vector.view,
            "entity": self.vector.entity,
            "entity_found": self.vector.found,
            "read_at": iso(self.vector.at),
            "newest_event_time": iso(self.vector.newest),
            "freshness_seconds": _rounded(self.vector.freshness),
            "features": self.vector.to_dict()["features"],
            "model_input": self.row,
            "missing": self.vector.missing(),
            "filled": self.filled,
            "latency_ms": round(self.latency_ms, 3),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def model_row(
    view: FeatureView,
    vector: FeatureVector,
    columns: Sequence[str],
    inputs: Mapping[str, Any],
    policy: MissingPolicy,
) -> tuple[dict[str, float | None], list[str]]:
    """The model's input row and the features filled by the missing policy.

    Raises:
        ValidationError: a column is neither a feature nor an input, an input is not a
            number, or (policy ``refuse``) features are missing.
    """
    known = {f.name: f for f in view.features}
    unknown = [name for name in inputs if name not in columns]
    if unknown:
        raise ValidationError(
            f"input {', '.join(map(repr, unknown))} is not a model column",
            hint=f"model columns: {', '.join(columns)}",
        )
    row: dict[str, float | None] = {}
    filled: list[str] = []
    refused: list[str] = []
    for name in columns:
        if name in inputs:
            row[name] = _number(inputs[name], f"input {name!r}")
            continue
        if name not in known:
            raise ValidationError(
                f"model column {name!r} is neither a feature of view "
                f"{view.name!r} nor in the request's input"
            )
        value = vector.values[name]
        if value.missing is None:
            row[name] = _number(value.value, f"feature {name!r}")
        elif policy == "refuse":
            refused.append(f"{name} ({value.missing})")
        elif policy == "default":
            default = known[name].default
            row[name] = 0.0 if default is None else default
            filled.append(name)
        else:
            row[name] = None
    if refused:
        raise ValidationError(
            f"features missing for entity {vector.entity!r}: {'; '.join(refused)}",
            hint="missing_policy = 'default' fills them; or wait for fresher events",
        )
    return row, filled


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    raise ValidationError(f"{what} must be a finite number for the model, got {value!r}")


def new_prediction(
    answer: Any,
    model: str,
    vector: FeatureVector,
    row: dict[str, float | None],
    filled: list[str],
    started: float,
) -> Prediction:
    latency = (time.perf_counter() - started) * 1000
    return Prediction(answer, uuid.uuid4().hex, model, vector, row, filled, latency)

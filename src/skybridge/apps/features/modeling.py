"""Training a small model on a training set (the demo's, and ``skybridge features train``).

A label with at most ten distinct whole values trains a logistic regression (the prediction
is the probability of the last class), anything else a ridge regression; both are scikit-learn
estimators saved with joblib where the ``local://`` model URL points, so the serving side
reloads the file on its next prediction.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skybridge.apps.features.training import TrainingSet
from skybridge.core.errors import MissingDependency, ValidationError


@dataclass(frozen=True)
class TrainedModel:
    path: Path
    kind: str
    rows: int
    columns: list[str]
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "kind": self.kind,
            "rows": self.rows,
            "columns": self.columns,
            "training_score": round(self.score, 4),
        }


def _matrix(
    data: TrainingSet, columns: Sequence[str], label: str
) -> tuple[list[list[float]], list[Any]]:
    features, labels = [], []
    for n, row in enumerate(data.rows, start=1):
        value = row.get(label)
        if value is None or value == "":
            raise ValidationError(
                f"training row {n} has no {label!r} label",
                hint="give every entity row a label value",
            )
        features.append([_number(row.get(c)) for c in columns])
        labels.append(value)
    texts = [i for i, v in enumerate(labels) if isinstance(v, str)]
    if texts and len(texts) < len(labels):  # class names and numbers mixed up
        n = (
            texts[0]
            if isinstance(labels[0], int | float)
            else next(i for i, v in enumerate(labels) if not isinstance(v, str))
        )
        raise ValidationError(
            f"label {label!r} mixes numbers and text (training row {n + 1}: {labels[n]!r})",
            hint="use numbers for every label, or class names for every label",
        )
    return features, labels


def _require_some_feature(data: TrainingSet, columns: Sequence[str]) -> None:
    """Refuse a training set in which no model column has a value in any row: a model fit on
    its zeros would predict one constant, whatever the entity does."""
    missing = data.missing
    if not missing or len(missing) != len(data.rows):
        return
    if all(column in gone for gone in missing for column in columns):
        reason = missing[0].get(columns[0], "missing") if columns else "missing"
        raise ValidationError(
            f"none of the model's features ({', '.join(columns)}) has a value in any of the "
            f"{len(missing)} training rows (row 1, {columns[0] if columns else '-'}: {reason})",
            hint="the offline log has no events of these entities before their as-of times: "
            "produce the events and run `skybridge features materialize` first",
        )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def train(data: TrainingSet, columns: Sequence[str], label: str, path: Path) -> TrainedModel:
    """Fit on ``data`` (missing features as 0) and save to ``path`` atomically."""
    try:
        import joblib
        from sklearn.linear_model import LogisticRegression, Ridge
    except ModuleNotFoundError as exc:
        raise MissingDependency("scikit-learn", "features", feature="training a model") from exc
    _require_some_feature(data, columns)
    matrix, labels = _matrix(data, columns, label)
    classes = set(labels)
    if len(classes) < 2:
        raise ValidationError(f"label {label!r} has one value only; a model needs two or more")
    named = all(isinstance(v, str) for v in classes)
    whole = named or all(isinstance(v, int | bool) or float(v).is_integer() for v in classes)
    model: Any = (
        LogisticRegression(max_iter=1000) if named or (whole and len(classes) <= 10) else Ridge()
    )
    model.fit(matrix, labels)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=path.suffix)
    os.close(handle)
    joblib.dump(model, temp)
    os.replace(temp, path)
    kind = type(model).__name__
    return TrainedModel(path, kind, len(matrix), list(columns), float(model.score(matrix, labels)))

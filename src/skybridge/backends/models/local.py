"""``local:///path/model.joblib`` (scikit-learn, joblib) or ``local:///path/model.onnx``
(onnxruntime): a model file served in this process.

URL parameters: ``features=a,b,c`` (input columns; default the estimator's
``feature_names_in_`` or the ONNX input's width unnamed), ``output=predict|proba``
(``proba``: the probability of the last class, for classifiers; a regressor predicts either
way), ``missing=true`` (the model handles NaN itself, e.g. ``HistGradientBoosting*``).

The file is loaded on first use and again whenever it changes (a retrained model replaces it).
A joblib file is a pickle: loading one runs code from it, so serve only files you made.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

from skybridge.backends.models.base import ModelEndpoint, Row, parse_columns
from skybridge.core.errors import ConfigError, NotFound, TerminalError, ValidationError
from skybridge.core.urls import BackendURL

Output = Literal["predict", "proba"]
_SUFFIXES = (".joblib", ".pkl", ".onnx")


class LocalModel(ModelEndpoint):
    """A scikit-learn (joblib) or ONNX model file, loaded in this process.

    Args:
        path: The model file (``.joblib``/``.pkl`` or ``.onnx``).
        output: ``predict`` (the model's prediction) or ``proba`` (probability of the last
            class).
        missing: The model accepts NaN for a missing value.
    """

    scheme: ClassVar[str] = "local"

    def __init__(
        self, path: str | Path, *, output: Output = "predict", missing: bool = False, **base: Any
    ) -> None:
        super().__init__(missing=missing, **base)
        self.path = Path(path)
        if self.path.suffix not in _SUFFIXES:
            raise ConfigError(
                f"model file {self.path} is neither .joblib, .pkl nor .onnx",
                hint="save scikit-learn models with joblib.dump, or export them to ONNX",
            )
        if output not in ("predict", "proba"):
            raise ConfigError(f"model output must be predict or proba, got {output!r}")
        self.output: Output = output
        self._lock = threading.Lock()
        self._loaded: tuple[float, Any] | None = None

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = url.params
        options.setdefault("columns", parse_columns(params.get("features")))
        options.setdefault("output", params.get("output", "predict"))
        options.setdefault("missing", url.flag("missing"))
        if not url.rest:
            raise ConfigError("local:// needs the model file: local:///path/model.joblib")
        return cls(url.location(), **options)

    def describe(self) -> str:
        return f"local://{self.path}"

    def ping(self) -> None:
        """Load the file if there is one (a broken file fails); no file yet is not an error
        here (the folder is where training writes it), but predictions raise ``NotFound``."""
        if self.path.exists():
            self._model()
        elif self.path.parent.exists() and not os.access(self.path.parent, os.W_OK):
            raise ConfigError(f"model folder {self.path.parent} is not writable")

    @property
    def columns(self) -> tuple[str, ...] | None:
        if self._columns is not None:
            return self._columns
        names = getattr(self._model(), "feature_names_in_", None)
        return tuple(str(n) for n in names) if names is not None else None

    def _model(self) -> Any:
        try:
            changed = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            raise NotFound(
                f"model file {self.path} does not exist",
                hint="train and save a model there (skybridge features train writes one)",
            ) from None
        with self._lock:
            if self._loaded is None or self._loaded[0] != changed:
                self._loaded = (changed, self._load())
            return self._loaded[1]

    def _load(self) -> Any:
        if self.path.suffix == ".onnx":
            from skybridge.backends.models.onnx_file import OnnxModel

            return OnnxModel.load(self.path, self.output)
        import joblib

        try:
            return joblib.load(self.path)
        except Exception as exc:  # a truncated or foreign file: say which, not a traceback
            raise TerminalError(
                f"cannot load model file {self.path}: {type(exc).__name__}"
            ) from None

    def _predict(self, rows: list[Row]) -> list[Any]:
        import numpy as np

        model = self._model()
        matrix = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
        try:
            if self.output == "proba" and hasattr(model, "predict_proba"):
                found = model.predict_proba(matrix)[:, -1]
            else:
                found = model.predict(matrix)
        except ValueError as exc:  # wrong width, NaN the model refuses...
            raise ValidationError(f"model {self.describe()} refused the input: {exc}") from None
        return [_plain(v) for v in found]


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers and strings (JSON-ready)."""
    item = getattr(value, "item", None)
    return item() if callable(item) else value

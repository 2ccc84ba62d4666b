"""ONNX files for ``local://``: an onnxruntime session that predicts like an estimator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skybridge.core.errors import MissingDependency, TerminalError, ValidationError


class OnnxModel:
    """An ONNX model with ``predict(matrix)``; ``output="proba"`` reads the probabilities."""

    onnx = True

    def __init__(self, session: Any, output: str) -> None:
        self.session = session
        self.output = output
        self.input = session.get_inputs()[0]
        self.outputs = [o.name for o in session.get_outputs()]

    @classmethod
    def load(cls, path: Path, output: str) -> OnnxModel:
        try:
            import onnxruntime
        except ModuleNotFoundError as exc:
            raise MissingDependency(
                "onnxruntime", "features", feature="ONNX models (local://...onnx)"
            ) from exc
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise TerminalError(f"cannot load ONNX model {path}: {type(exc).__name__}") from None
        return cls(session, output)

    def predict(self, matrix: Any) -> list[Any]:
        import numpy as np

        try:
            found = self.session.run(None, {self.input.name: matrix.astype(np.float32)})
        except Exception as exc:  # InvalidArgument for a wrong shape, and so on
            raise ValidationError(f"the ONNX model refused the input: {exc}") from None
        if self.output == "proba":
            return [_last_class(p) for p in found[-1]]
        return [_scalar(v) for v in found[0]]


def _scalar(value: Any) -> Any:
    if hasattr(value, "shape") and getattr(value, "size", 0) == 1:
        return value.reshape(-1)[0].item()
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def _last_class(probabilities: Any) -> float:
    if isinstance(probabilities, dict):  # skl2onnx's ZipMap: {class: probability}
        return float(probabilities[sorted(probabilities)[-1]])
    return float(probabilities[-1])

"""The reference model as files and servers for the model backends' tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.contracts.models import reference
from skybridge.testing.models import ModelServer


def fitted_reference(missing: bool = False) -> Any:
    """A scikit-learn regressor that learned ``2a + 3b - 1`` exactly."""
    import numpy as np
    from sklearn.linear_model import LinearRegression

    grid = np.array([[a, b] for a in range(-5, 6) for b in range(-5, 6)], dtype=float)
    target = np.array(reference(grid.tolist()))
    if missing:
        from sklearn.ensemble import HistGradientBoostingRegressor

        return HistGradientBoostingRegressor(max_iter=5).fit(grid, target)
    return LinearRegression().fit(grid, target)


@pytest.fixture(scope="session")
def joblib_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import joblib

    path = tmp_path_factory.mktemp("models") / "reference.joblib"
    joblib.dump(fitted_reference(), path)
    return path


@pytest.fixture(scope="session")
def onnx_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from skl2onnx import to_onnx

    model = fitted_reference()
    path = tmp_path_factory.mktemp("models") / "reference.onnx"
    import numpy as np

    path.write_bytes(to_onnx(model, np.zeros((1, 2), dtype=np.float32)).SerializeToString())
    return path


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    with ModelServer(reference) as server:
        yield server

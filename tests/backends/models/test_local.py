"""``local://`` models: scikit-learn joblib files and ONNX files, in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import joblib
import pytest

from skybridge.backends.models import ModelEndpoint, connect
from skybridge.core.errors import ConfigError, NotFound, TerminalError
from skybridge.testing.contracts.models import ModelContract

from .conftest import fitted_reference


class TestJoblib(ModelContract):
    @pytest.fixture
    def endpoint(self, joblib_file: Path) -> Iterator[ModelEndpoint]:
        with connect(f"local://{joblib_file}?features=a,b") as model:
            yield model


class TestOnnx(ModelContract):
    tolerance = 1e-4  # float32 inside the ONNX graph

    @pytest.fixture
    def endpoint(self, onnx_file: Path) -> Iterator[ModelEndpoint]:
        with connect(f"local://{onnx_file}?features=a,b") as model:
            yield model


class TestMissingAware(ModelContract):
    """A model that handles NaN itself, declared with ``missing=true``."""

    tolerance = 0.5  # five boosting rounds approximate the plane

    @pytest.fixture
    def endpoint(self, tmp_path: Path) -> ModelEndpoint:
        path = tmp_path / "hgb.joblib"
        joblib.dump(fitted_reference(missing=True), path)
        return connect(f"local://{path}?features=a,b&missing=true")

    def test_predicts_each_row_in_order(self, endpoint: ModelEndpoint) -> None:
        assert len(endpoint.predict([[1.0, 2.0], [None, 2.0]])) == 2

    def test_mapping_rows_follow_the_columns(self, endpoint: ModelEndpoint) -> None:
        assert endpoint.columns == ("a", "b")

    def test_batches_larger_than_a_call_are_split(self, endpoint: ModelEndpoint) -> None:
        assert (
            len(endpoint.predict([[1.0, 1.0]] * (endpoint.max_batch + 3))) == endpoint.max_batch + 3
        )


def test_a_replaced_file_is_loaded_again(tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    joblib.dump(fitted_reference(), path)
    model = connect(f"local://{path}?features=a,b")
    assert round(model.predict_one([1, 1])) == 4
    from sklearn.dummy import DummyRegressor

    joblib.dump(DummyRegressor(strategy="constant", constant=42.0).fit([[0, 0]], [0]), path)
    os.utime(path, ns=(1, os.stat(path).st_mtime_ns + 1_000_000))
    assert model.predict_one([1, 1]) == 42.0


def test_missing_files_and_bad_files_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        connect(f"local://{tmp_path}/none.joblib?features=a,b").predict([[1, 2]])
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(TerminalError, match="cannot load model file"):
        connect(f"local://{tmp_path}/junk.joblib?features=a,b").ping()
    with pytest.raises(ConfigError, match=r"neither \.joblib"):
        connect(f"local://{tmp_path}/model.bin")
    with pytest.raises(ConfigError, match="distinct non-empty"):
        connect(f"local://{tmp_path}/m.joblib?features=a,a")


def test_classifier_probabilities(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    path = tmp_path / "clf.joblib"
    joblib.dump(LogisticRegression().fit([[0.0], [1.0], [9.0], [10.0]], [0, 0, 1, 1]), path)
    proba = connect(f"local://{path}?features=x&output=proba")
    low, high = proba.predict([[0.0], [10.0]])
    assert 0 <= low < 0.5 < high <= 1
    assert connect(f"local://{path}?features=x").predict([[0.0], [10.0]]) == [0, 1]

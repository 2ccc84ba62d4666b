"""The model-endpoint contract every ``models`` backend passes, against one reference model.

The reference model computes ``2a + 3b - 1`` from the columns ``(a, b)``; a backend's test
file serves it its own way (a joblib or ONNX file, a KServe or SageMaker server, an OCI model
deployment) and subclasses::

    class TestLocal(ModelContract):
        @pytest.fixture
        def endpoint(self, tmp_path): ...   # a ModelEndpoint serving the reference model

A backend that calls a service subclasses :class:`RemoteModelContract` instead, whose
``unreachable`` fixture gives an endpoint whose service is down: it must fail with a
``TransientError``. (An in-process backend has nothing to be unreachable, so the test is not
declared for it rather than skipped.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import pytest

from skybridge.backends.models import ModelEndpoint
from skybridge.core.errors import TransientError, ValidationError

COLUMNS = ("a", "b")


def reference(rows: Sequence[Sequence[float | None]]) -> list[float]:
    """The reference model: ``2a + 3b - 1`` per row."""
    return [2 * float(a or 0) + 3 * float(b or 0) - 1 for a, b in rows]


def close(found: list[Any], wanted: list[float], tolerance: float = 1e-4) -> bool:
    return len(found) == len(wanted) and all(
        math.isclose(float(f), w, rel_tol=tolerance, abs_tol=tolerance)
        for f, w in zip(found, wanted, strict=True)
    )


class ModelContract:
    """Subclass with an ``endpoint`` fixture serving :func:`reference` on columns ``a, b``."""

    #: Relative tolerance of predictions (ONNX computes in float32).
    tolerance: ClassVar[float] = 1e-6

    @pytest.fixture
    def endpoint(self) -> ModelEndpoint:
        raise NotImplementedError

    def test_predicts_each_row_in_order(self, endpoint: ModelEndpoint) -> None:
        rows = [[1.0, 2.0], [0.0, 0.0], [3.0, -1.0], [0.5, 0.25]]
        assert close(endpoint.predict(rows), reference(rows), self.tolerance)

    def test_mapping_rows_follow_the_columns(self, endpoint: ModelEndpoint) -> None:
        assert endpoint.columns == COLUMNS
        found = endpoint.predict([{"b": 2, "a": 1}, {"a": 3, "b": -1, "ignored": 9}])
        assert close(found, [7.0, 2.0], self.tolerance)
        assert close([endpoint.predict_one({"a": True, "b": 0})], [1.0], self.tolerance)

    def test_batches_larger_than_a_call_are_split(self, endpoint: ModelEndpoint) -> None:
        rows = [[float(i), float(i % 7)] for i in range(endpoint.max_batch + 3)]
        assert close(endpoint.predict(rows), reference(rows), self.tolerance)

    def test_no_rows_make_no_call(self, endpoint: ModelEndpoint) -> None:
        assert endpoint.predict([]) == []

    @pytest.mark.parametrize(
        ("row", "message"),
        [
            ({"a": "1", "b": 2}, "feature 'a' must be a finite number"),
            ([1.0, float("inf")], "must be a finite number"),
            ([1.0, 2.0, 3.0], "has 3 values; the model takes 2"),
            ("12", "a row is a mapping or a list"),
        ],
    )
    def test_bad_rows_are_refused_before_any_call(
        self, endpoint: ModelEndpoint, row: Any, message: str
    ) -> None:
        with pytest.raises(ValidationError, match=message):
            endpoint.predict([[1.0, 2.0], row])

    def test_missing_values_need_the_capability(self, endpoint: ModelEndpoint) -> None:
        if endpoint.supports("missing"):
            assert len(endpoint.predict([{"a": 1.0}])) == 1
            return
        with pytest.raises(ValidationError, match="does not accept missing values"):
            endpoint.predict([{"a": 1.0}])

    def test_ping_reaches_the_model(self, endpoint: ModelEndpoint) -> None:
        endpoint.ping()

    def test_repr_names_the_model(self, endpoint: ModelEndpoint) -> None:
        assert endpoint.describe() in repr(endpoint)
        assert endpoint.supports("batch")


class RemoteModelContract(ModelContract):
    """The contract of a backend that calls a model service: also an ``unreachable`` fixture,
    an endpoint whose service is down."""

    @pytest.fixture
    def unreachable(self) -> ModelEndpoint:
        raise NotImplementedError

    def test_an_unreachable_service_is_transient(self, unreachable: ModelEndpoint) -> None:
        with pytest.raises(TransientError):
            unreachable.predict([[1.0, 2.0]])

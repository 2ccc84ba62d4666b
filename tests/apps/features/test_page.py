"""How the features page writes a model's output for people."""

from __future__ import annotations

import pytest

from skybridge.apps.features.page import _number, _prediction


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.35274, "0.3527"),
        (1.33e-08, "< 0.0001"),
        (-2e-9, "> -0.0001"),
        (0, "0"),
        (0.0, "0"),
        (1.0, "1"),
        (12345.678, "12,345.678"),
        (2.5e9, "2,500,000,000"),
        ("churn", "churn"),
        (True, "True"),
    ],
)
def test_numbers_are_plain_decimals(value: object, shown: str) -> None:
    assert _number(value) == shown


def test_the_model_is_named_by_its_file_and_an_unknown_age_is_said() -> None:
    answer = {"prediction": 0.5, "model": "local:///srv/x/model.joblib", "freshness_seconds": None}
    shown = _prediction(answer)
    assert (shown["model_name"], shown["age"], shown["shown"]) == ("model.joblib", None, "0.5")
    assert _prediction({**answer, "freshness_seconds": 42.0})["age"] == "42 s"

"""``oci-ds://<deployment>``: a Data Science model deployment's signed ``/predict`` on the
skybridge OCI emulator (which verifies every request signature)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from skybridge.backends.models import ModelEndpoint, connect
from skybridge.core.errors import ConfigError, NotFound, TerminalError, ValidationError
from skybridge.testing.contracts.models import RemoteModelContract, reference
from skybridge.testing.oci import OciEmulator
from skybridge.testing.servers import free_port

pytestmark = pytest.mark.oci


def score(body: Any) -> Any:
    """A score.py: ``{"columns", "data"}`` in, ``{"prediction": [...]}`` out."""
    if body["columns"] != ["a", "b"]:
        raise ValueError(f"unexpected columns {body['columns']}")
    return {"prediction": reference(body["data"])}


@pytest.fixture(scope="module")
def deployment(oci_emulator: OciEmulator) -> str:
    return oci_emulator.deploy_model(score)


def _connect(emulator: OciEmulator, deployment: str, **options: Any) -> ModelEndpoint:
    return connect(
        f"oci-ds://{deployment}?endpoint={emulator.endpoint}&features=a,b",
        config=options.pop("config", emulator.sdk_config()),
        **options,
    )


class TestOciDataScience(RemoteModelContract):
    @pytest.fixture
    def endpoint(self, oci_emulator: OciEmulator, deployment: str) -> Iterator[ModelEndpoint]:
        with _connect(oci_emulator, deployment) as model:
            yield model

    @pytest.fixture
    def unreachable(self, oci_emulator: OciEmulator, deployment: str) -> Iterator[ModelEndpoint]:
        url = f"oci-ds://{deployment}?endpoint=http://127.0.0.1:{free_port()}&features=a,b"
        with connect(url, config=oci_emulator.sdk_config(), timeout=2) as model:
            yield model


def test_requests_are_signed(oci_emulator: OciEmulator, deployment: str) -> None:
    config = oci_emulator.sdk_config(wrong_key=True)
    with (
        _connect(oci_emulator, deployment, config=config) as wrong,
        pytest.raises(TerminalError, match="401"),
    ):
        wrong.predict([[1, 2]])


def test_errors_and_urls(oci_emulator: OciEmulator, deployment: str) -> None:
    with _connect(oci_emulator, deployment[:-4] + "zzzz") as missing, pytest.raises(NotFound):
        missing.predict([[1, 2]])
    oci_emulator.faults.inject("PredictWithResponseStream", 400)
    with _connect(oci_emulator, deployment) as model:
        with pytest.raises(ValidationError, match="answered 400"):
            model.predict([[1, 2]])
        assert model.predict([[1, 2]]) == [7.0]
    with pytest.raises(ConfigError, match="model deployment OCID"):
        connect("oci-ds://ocid1.vault.oc1..x", config=oci_emulator.sdk_config())

"""``http://.../v2/models/NAME``: the KServe v2 protocol against the local model server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from skybridge.backends.models import ModelEndpoint, connect
from skybridge.core.errors import ConfigError, NotFound, TransientError, ValidationError
from skybridge.core.urls import mask_url
from skybridge.testing.contracts.models import RemoteModelContract
from skybridge.testing.models import ModelServer
from skybridge.testing.servers import free_port


class TestKServe(RemoteModelContract):
    @pytest.fixture
    def endpoint(self, model_server: ModelServer) -> Iterator[ModelEndpoint]:
        with connect(f"{model_server.url}/v2/models/{model_server.name}?features=a,b") as model:
            yield model

    @pytest.fixture
    def unreachable(self) -> Iterator[ModelEndpoint]:
        with connect(f"http://127.0.0.1:{free_port()}/v2/models/m?features=a,b&timeout=2") as model:
            yield model


def test_service_errors_become_skybridge_errors(model_server: ModelServer) -> None:
    base = f"{model_server.url}/v2/models"
    with connect(f"{base}/{model_server.name}?features=a,b") as model:
        model_server.fail_next(503)
        with pytest.raises(TransientError, match="answered 503"):
            model.predict([[1, 2]])
        model_server.fail_next(400)
        with pytest.raises(ValidationError, match="answered 400"):
            model.predict([[1, 2]])
        assert model.predict([[1, 2]]) == [7.0]
    with connect(f"{base}/other?features=a,b") as other, pytest.raises(NotFound):
        other.predict([[1, 2]])


def test_urls_without_the_v2_path_and_tokens_in_urls() -> None:
    with pytest.raises(ConfigError, match="/v2/models/<name>"):
        connect("http://127.0.0.1:9/predict")
    assert "s3cret" not in mask_url("https://host/v2/models/m?token=s3cret")
    with connect("https://host/v2/models/m?token=s3cret") as model:
        assert "s3cret" not in repr(model)

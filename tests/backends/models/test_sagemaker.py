"""``sagemaker://ENDPOINT``: InvokeEndpoint's wire format against a local server that runs the
reference model (SigV4-signed requests), and against moto's canned endpoint results.

moto cannot run a model: its ``invoke_endpoint`` answers results queued beforehand (the
first result per endpoint and body is cached), so the moto test checks the request and the
parsing of an answer, and the local server checks real predictions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from skybridge.backends.models import ModelEndpoint, connect
from skybridge.core.errors import ConfigError, NotFound, TransientError
from skybridge.testing.contracts.models import RemoteModelContract
from skybridge.testing.models import ModelServer
from skybridge.testing.servers import free_port

AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in AWS.items():
        monkeypatch.setenv(key, value)


def _url(server: ModelServer, name: str, query: str = "") -> str:
    return f"sagemaker://{name}?region=us-east-1&endpoint_url={server.url}&features=a,b{query}"


class TestSageMakerCsv(RemoteModelContract):
    #: The endpoint's request body (``text/csv``, SageMaker's default).
    query = ""

    @pytest.fixture
    def endpoint(self, model_server: ModelServer) -> Iterator[ModelEndpoint]:
        with connect(_url(model_server, model_server.name, self.query)) as model:
            yield model

    @pytest.fixture
    def unreachable(self) -> Iterator[ModelEndpoint]:
        with connect(
            f"sagemaker://m?region=us-east-1&endpoint_url=http://127.0.0.1:{free_port()}"
            f"&features=a,b&timeout=2{self.query}"
        ) as model:
            yield model


class TestSageMakerJson(TestSageMakerCsv):
    query = "&content_type=application/json"


def test_errors_are_translated(model_server: ModelServer) -> None:
    with connect(_url(model_server, "no-such-endpoint")) as missing, pytest.raises(NotFound):
        missing.predict([[1, 2]])
    with connect(_url(model_server, model_server.name)) as model:
        model_server.fail_next(503)
        with pytest.raises(TransientError):
            model.predict([[1, 2]])
        assert model.predict([[1, 2]]) == [7.0]
    with pytest.raises(ConfigError, match="content_type"):
        connect("sagemaker://a?content_type=text/xml&region=us-east-1")


@pytest.mark.moto
def test_against_moto_canned_results(moto_server: Any) -> None:
    name = f"churn-{uuid.uuid4().hex[:6]}"
    canned = f"{moto_server.url}/moto-api/static/sagemaker/endpoint-results"
    results = {"results": [{"Body": "0.25\n0.75\n", "ContentType": "text/csv"}]}
    httpx.post(canned, json=results).raise_for_status()
    base = f"region=us-east-1&endpoint_url={moto_server.url}&features=a,b"
    with connect(f"sagemaker://{name}?{base}") as model:
        assert model.predict([[1, 2], [3, 4]]) == [0.25, 0.75]
    body = json.dumps({"predictions": [{"score": 0.5}]})
    httpx.post(canned, json={"results": [{"Body": body, "ContentType": "application/json"}]})
    with connect(f"sagemaker://{name}-json?{base}&content_type=application/json") as other:
        assert other.predict([[1, 2]]) == [0.5]

"""The OCI Functions (API Gateway) and AWS Lambda entry points."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from skybridge.apps.recommend.handlers import lambda_handler, oci_handler
from skybridge.apps.recommend.service import Recommender


class GatewayContext:
    """What fdk's InvokeContext offers a function behind OCI API Gateway."""

    def __init__(self, url: str, method: str = "GET") -> None:
        self.url, self.method = url, method
        self.status: int | None = None
        self.headers: dict[str, str] = {}

    def RequestURL(self) -> str:  # noqa: N802 (fdk's name)
        return self.url

    def Method(self) -> str:  # noqa: N802
        return self.method

    def SetResponseHeaders(self, headers: dict[str, str], status_code: int) -> None:  # noqa: N802
        self.headers, self.status = headers, status_code


def test_oci_gateway_get_and_post(trained: Recommender) -> None:
    ctx = GatewayContext("/recommend/A01?k=2&category=gamma")
    body = json.loads(oci_handler(ctx, io.BytesIO(b"")))
    assert ctx.status == 200
    assert len(body["items"]) == 2
    assert {i["category"] for i in body["items"]} == {"gamma"}
    post = GatewayContext("/recommend/events", "POST")
    events = {"events": [{"user": "A01", "item": "a1", "kind": "rec_ignore"}]}
    assert json.loads(oci_handler(post, json.dumps(events).encode())) == {"published": 1}
    gen = GatewayContext("/recommend/A01/generate", "POST")
    proposed = json.loads(oci_handler(gen, b'{"context": "gamma gear"}'))
    assert gen.status == 200
    assert proposed["model"] == "extractive"


def test_direct_invocation_and_errors(trained: Recommender) -> None:
    assert len(json.loads(oci_handler(object(), b'{"user": "B01", "k": 3}'))["items"]) == 3
    bad = GatewayContext("/recommend/A01?k=lots")
    assert "k must be" in json.loads(oci_handler(bad, None))["message"]
    assert bad.status == 422
    broken = GatewayContext("/recommend/events", "POST")
    oci_handler(broken, b"{nope")
    assert broken.status == 422


@pytest.mark.parametrize(
    "event",
    [
        {"httpMethod": "GET", "path": "/recommend/A02", "queryStringParameters": {"k": "4"}},
        {"rawPath": "/recommend/A02", "requestContext": {"http": {"method": "GET"}},
         "queryStringParameters": {"k": "4"}},
    ],
)  # fmt: skip
def test_lambda_behind_api_gateway(trained: Recommender, event: dict[str, Any]) -> None:
    answer = lambda_handler(event)
    assert answer["statusCode"] == 200
    assert len(json.loads(answer["body"])["items"]) == 4
    refused = lambda_handler({"httpMethod": "GET", "path": "/recommend/bad%20id"})
    assert refused["statusCode"] == 422

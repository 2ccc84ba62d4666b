"""The OCI Functions (API Gateway) and AWS Lambda entry points, with the event shapes API
Gateway sends: REST API payload 1.0 and HTTP API payload 2.0, path parameters, base64 bodies,
repeated query keys; bad input is a 4xx naming the problem."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.recommend import handlers
from skybridge.apps.recommend.handlers import lambda_handler, oci_handler
from skybridge.apps.recommend.service import Recommender
from skybridge.testing.service import ServiceHarness, service_harness


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


def rest_event(
    method: str,
    resource: str,
    path: str,
    *,
    params: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    body: str | None = None,
    b64: bool = False,
) -> dict[str, Any]:
    """A REST API proxy event (payload 1.0) as API Gateway sends it."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": {"Accept": "application/json"},
        "multiValueHeaders": {"Accept": ["application/json"]},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} if query else None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/prod{path}",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        },
        "body": body,
        "isBase64Encoded": b64,
    }


def http_event(
    route_key: str,
    raw_path: str,
    *,
    params: dict[str, str] | None = None,
    raw_query: str = "",
    body: str | None = None,
    b64: bool = False,
) -> dict[str, Any]:
    """An HTTP API event (payload 2.0): a repeated query key's values joined by commas."""
    method = route_key.split(" ")[0] if route_key != "$default" else "GET"
    query: dict[str, list[str]] = {}
    for pair in filter(None, raw_query.split("&")):
        key, _, value = pair.partition("=")
        query.setdefault(key, []).append(value)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1"},
            "routeKey": route_key,
            "stage": "$default",
        },
        "isBase64Encoded": b64,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in query.items()}
    if params:
        event["pathParameters"] = params
    if body is not None:
        event["body"] = body
    return event


def payload(answer: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return answer["statusCode"], json.loads(answer["body"])


def b64(data: Any) -> str:
    return base64.b64encode(json.dumps(data).encode()).decode()


def test_oci_gateway_get_and_post(trained: Recommender) -> None:
    ctx = GatewayContext("/recommend/A01?k=2&category=gamma")
    body = json.loads(oci_handler(ctx, io.BytesIO(b"")))
    assert ctx.status == 200
    assert len(body["items"]) == 2
    assert {i["category"] for i in body["items"]} == {"gamma"}
    post = GatewayContext("/recommend/events", "POST")
    events = {"events": [{"user": "A01", "item": "a1", "kind": "rec_ignore"}]}
    assert json.loads(oci_handler(post, json.dumps(events).encode())) == {"published": 1}
    gen = GatewayContext("/v1/recommend/A01/generate", "POST")
    proposed = json.loads(oci_handler(gen, b'{"context": "gamma gear"}'))
    assert gen.status == 200
    assert proposed["model"] == "extractive"


def test_direct_invocation_and_errors(trained: Recommender) -> None:
    assert len(json.loads(oci_handler(object(), b'{"user": "B01", "k": 3}'))["items"]) == 3
    article = json.loads(oci_handler(object(), b'{"user_id": "B01", "context": "beta", "k": 2}'))
    assert article["user"] == "B01"
    bad = GatewayContext("/recommend/A01?k=lots")
    assert "k must be" in json.loads(oci_handler(bad, None))["message"]
    assert bad.status == 422
    broken = GatewayContext("/recommend/events", "POST")
    assert "not JSON" in json.loads(oci_handler(broken, b"{nope"))["message"]
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


@pytest.mark.parametrize(
    "event",
    [
        rest_event("GET", "/users/{user}/recommendations", "/users/A01/recommendations",
                   params={"user": "A01"}),
        rest_event("GET", "/users/{user_id}", "/users/A01", params={"user_id": "A01"}),
        http_event("GET /users/{user}/recommendations", "/prod/users/A01/recommendations",
                   params={"user": "A01"}),
        http_event("GET /recommend/{userId}", "/recommend/A01", params={"userId": "A01"}),
    ],
)  # fmt: skip
def test_the_user_comes_from_the_path_parameters(
    trained: Recommender, event: dict[str, Any]
) -> None:
    status, body = payload(lambda_handler(event))
    assert status == 200, body
    assert body["user"] == "A01"
    assert body["strategy"] == "personal"


@pytest.mark.parametrize(
    "event",
    [
        rest_event("POST", "/getRecommendations", "/getRecommendations",
                   body=json.dumps({"user_id": "B01", "context": "beta gear"})),
        http_event("POST /getRecommendations", "/getRecommendations",
                   body=json.dumps({"user_id": "B01", "context": "beta gear"})),
        http_event("POST /api/getRecommendations", "/api/getRecommendations",
                   body=json.dumps({"user": "B01", "user_id": "B01"})),
    ],
)  # fmt: skip
def test_the_articles_route_reads_user_id_from_the_body(
    trained: Recommender, event: dict[str, Any]
) -> None:
    status, body = payload(lambda_handler(event))
    assert status == 200, body
    assert body["user"] == "B01"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/A01/recommendations"),
        ("GET", "/recommend/A01/profile"),
        ("GET", "/recommend/events"),
        ("POST", "/recommend/generate"),
    ],
)
def test_a_route_word_is_never_a_user(trained: Recommender, method: str, path: str) -> None:
    proxy = rest_event(method, "/{proxy+}", path, params={"proxy": path.lstrip("/")})
    status, body = payload(lambda_handler(proxy))
    assert status == 404, body
    assert body["message"] == f"no route for {method} {path}"
    assert "GET <route>/{user}" in body["hint"]
    assert "user_id" in body["hint"]
    ctx = GatewayContext(path, method)
    assert json.loads(oci_handler(ctx, b""))["error"] == "NotFound"
    assert ctx.status == 404


def test_a_literal_route_without_a_user_in_the_body_is_refused(trained: Recommender) -> None:
    event = http_event("GET /recommendations", "/recommendations")
    status, body = payload(lambda_handler(event))
    assert status == 422
    assert "name a user" in body["message"]
    status, body = payload(lambda_handler(http_event("$default", "/recommendations")))
    assert status == 422


def test_base64_bodies_are_decoded(trained: Recommender) -> None:
    events = {"events": [{"user": "A01", "item": "a1", "kind": "rec_click"}]}
    v2 = http_event("POST /recommend/events", "/recommend/events", body=b64(events), b64=True)
    assert payload(lambda_handler(v2)) == (200, {"published": 1})
    v1 = rest_event(
        "POST",
        "/recommend/{user}/generate",
        "/recommend/A01/generate",
        params={"user": "A01"},
        body=b64({"context": "gamma gear", "k": 2}),
        b64=True,
    )
    status, body = payload(lambda_handler(v1))
    assert status == 200, body
    assert body["model"] == "extractive"


@pytest.fixture
def service(trained: Recommender) -> Iterator[ServiceHarness]:
    with service_harness([find_app(discover_apps(), "recommend")]) as harness:
        yield harness


def test_repeated_query_keys_filter_as_the_http_route_does(
    trained: Recommender, service: ServiceHarness
) -> None:
    route = service.client.get(
        "/api/recommend/A01?category=beta&category=gamma&k=6", headers=service.auth
    )
    assert route.status_code == 200, route.text
    expected = [i["item"] for i in route.json()["items"]]
    assert {i["category"] for i in route.json()["items"]} == {"beta", "gamma"}
    query = {"category": ["beta", "gamma"], "k": ["6"]}
    v1 = rest_event(
        "GET", "/recommend/{user}", "/recommend/A01", params={"user": "A01"}, query=query
    )
    v2 = http_event("GET /recommend/{user}", "/recommend/A01", params={"user": "A01"},
                    raw_query="category=beta&category=gamma&k=6")  # fmt: skip
    v2_joined = {**v2, "rawQueryString": None}  # comma-joined queryStringParameters only
    assert v2_joined["queryStringParameters"] == {"category": "beta,gamma", "k": "6"}
    for event in (v1, v2, v2_joined):
        status, body = payload(lambda_handler(event))
        assert status == 200, body
        assert [i["item"] for i in body["items"]] == expected
    ctx = GatewayContext("/recommend/A01?category=beta&category=gamma&k=6")
    assert [i["item"] for i in json.loads(oci_handler(ctx, None))["items"]] == expected


@pytest.mark.parametrize(
    ("event", "status", "message"),
    [
        (None, 400, "expected an API Gateway proxy event"),
        ([1, 2], 400, "expected an API Gateway proxy event"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body="\xff", b64=False),
         422, "not JSON"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body="/w==", b64=True),
         400, "not UTF-8"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body="%%%", b64=True),
         400, "not base64"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body="[1]"),
         422, "must be a JSON object"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body='{"k": true}'),
         422, "k must be a whole number"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body='{"k": 2.5}'),
         422, "k must be a whole number"),
        (http_event("POST /r/{user}", "/r/A01", params={"user": "A01"}, body='{"category": 5}'),
         422, "categories must be a category or a list of them, got int"),
        (http_event("POST /r/{user}/generate", "/r/A01/generate", params={"user": "A01"},
                    body='{"context": {"a": 1}}'), 422, "context must be text"),
        (http_event("POST /r", "/r", body='{"user": "A01", "user_id": "B01"}'), 422, "differ"),
        ({**http_event("GET /r/{user}", "/r/A01"), "pathParameters": "A01"}, 400,
         "pathParameters must be an object"),
        ({**http_event("GET /r/{user}", "/r/A01"), "requestContext": []}, 400,
         "requestContext must be an object"),
        (http_event("GET /r/{user}", "/r/A01", params={"user": "A01"}, raw_query="k=lots"),
         422, "k must be a whole number"),
        (http_event("GET /r/{user}", "/r/A01", params={"user": "A01"}, raw_query="category="),
         422, "category ''"),
    ],
)  # fmt: skip
def test_malformed_input_is_a_4xx_naming_the_problem(
    trained: Recommender, event: Any, status: int, message: str
) -> None:
    answer = lambda_handler(event)
    code, body = payload(answer)
    assert code == status, body
    assert message in body["message"]
    assert body["error"] in ("BadRequest", "ValidationError")


def test_oci_bad_bytes_answer_400_through_the_gateway(trained: Recommender) -> None:
    ctx = GatewayContext("/recommend/events", "POST")
    body = json.loads(oci_handler(ctx, io.BytesIO(b"\xff\xfe")))
    assert ctx.status == 400
    assert "not UTF-8" in body["message"]


def test_an_unexpected_error_is_a_500_that_shows_no_detail(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("postgresql://app:hunter2@db/prod refused")

    monkeypatch.setattr(handlers, "recommend", boom)
    answer = lambda_handler(rest_event("GET", "/r/{user}", "/r/A01", params={"user": "A01"}))
    assert answer["statusCode"] == 500
    assert "hunter2" not in answer["body"]
    ctx = GatewayContext("/recommend/A01")
    assert "hunter2" not in oci_handler(ctx, None)
    assert ctx.status == 500

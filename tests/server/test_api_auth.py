"""Authentication of /api routes, the public routes, and the tokens API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from skybridge.auth.tokens import hash_token
from skybridge.core.config import Settings
from skybridge.server import create_app
from skybridge.testing.service import ServiceHarness


def test_healthz_needs_no_token_and_names_the_version(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]


@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/metrics"])
def test_public_routes_need_no_token(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 200


def test_openapi_declares_bearer_auth(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "/api/whoami" in schema["paths"]
    assert not any(path in schema["paths"] for path in ("/", "/login", "/tokens"))


def test_openapi_tags_each_route_once_with_its_app(skybridge_service: ServiceHarness) -> None:
    schema = skybridge_service.client.get("/openapi.json").json()
    app_routes = 0
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            tags = operation.get("tags", [])
            assert len(tags) == 1, (path, tags)
            parts = path.split("/")
            if len(parts) > 3 and path.startswith("/api/") and tags != ["service"]:
                assert tags == [parts[2]], (path, tags)
                app_routes += 1
    assert app_routes > 50


@pytest.mark.parametrize(
    ("method", "path", "body", "said"),
    [
        ("POST", "/api/tokens", {"name": "bad name!"}, "body.name: must be 1-64 letters"),
        ("POST", "/api/layers/publish", {"layer": "no spaces"}, "body.layer: must be 1-140"),
        ("POST", "/api/datasync/dlq/replay", {"ids": ["x"]}, "body.ids.0: must be a dead letter"),
        (
            "GET",
            "/api/recommend/bad%20user",
            None,
            "path.user: must be 1-128 letters, digits and . _ : @ -",
        ),
    ],
)
def test_a_value_that_breaks_a_pattern_is_told_the_rule_not_the_regex(
    skybridge_service: ServiceHarness, method: str, path: str, body: object, said: str
) -> None:
    service = skybridge_service
    response = service.client.request(method, path, json=body, headers=service.auth)
    assert response.status_code == 422, response.text
    assert said in response.json()["message"]
    assert "should match pattern" not in response.json()["message"]


def test_api_without_token_is_401_with_a_json_message(client: TestClient) -> None:
    response = client.get("/api/whoami")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    body = response.json()
    assert body["error"] == "Unauthorized"
    assert "Authorization: Bearer" in body["message"]


@pytest.mark.parametrize(
    "header",
    [
        "Bearer sbk_wrongwrongwrongwrongwrongwrongwrongwrongwro",
        "Bearer not-even-a-skybridge-token",
        "Basic dXNlcjpwYXNz",
        "Bearer ",
    ],
)
def test_api_with_a_wrong_token_is_401(client: TestClient, token: str, header: str) -> None:
    response = client.get("/api/whoami", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json()["message"]


def test_whoami_names_the_token(client: TestClient, auth: dict[str, str]) -> None:
    response = client.get("/api/whoami", headers=auth)
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["kind"], body["grant"]) == ("tester", "token", ["admin"])
    assert "tokens:manage" in body["scopes"]


def test_a_revoked_token_is_refused(client: TestClient, auth: dict[str, str]) -> None:
    assert client.get("/api/whoami", headers=auth).status_code == 200
    client.app.state.skybridge.tokens.revoke("tester")  # type: ignore[attr-defined]
    response = client.get("/api/whoami", headers=auth)
    assert response.status_code == 401
    assert "revoked" in response.json()["message"]


def test_the_configured_admin_token_is_accepted(settings: Settings) -> None:
    admin = "admin-token-from-a-secret-store-0123456789"
    configured = settings.model_copy(
        update={"server": settings.server.model_copy(update={"admin_token": SecretStr(admin)})}
    )
    with TestClient(create_app(configured, apps=[])) as client:
        response = client.get("/api/whoami", headers={"Authorization": f"Bearer {admin}"})
        body = response.json()
        assert (body["name"], body["kind"], body["grant"]) == (
            "server.admin_token",
            "admin",
            ["admin"],
        )
        assert (
            client.get("/api/whoami", headers={"Authorization": "Bearer admin"}).status_code == 401
        )


def test_tokens_are_stored_hashed_with_a_display_prefix(client: TestClient, token: str) -> None:
    engine = client.app.state.skybridge.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM skybridge_api_tokens")).mappings().all()
    assert len(rows) == 1
    row = dict(rows[0])
    assert row["hash"] == hash_token(token)
    assert row["prefix"] == token[:12]
    assert not any(token in str(value) for value in row.values())


def test_create_list_and_revoke_tokens(client: TestClient, auth: dict[str, str]) -> None:
    created = client.post("/api/tokens", headers=auth, json={"name": "ci-deploy"})
    assert created.status_code == 201
    new_token = created.json()["token"]
    assert new_token.startswith("sbk_")
    assert len(new_token) >= 40

    new_auth = {"Authorization": f"Bearer {new_token}"}
    assert client.get("/api/whoami", headers=new_auth).json()["name"] == "ci-deploy"

    listed = client.get("/api/tokens", headers=auth)
    assert [t["name"] for t in listed.json()] == ["tester", "ci-deploy"]
    assert new_token not in listed.text
    assert all("token" not in t for t in listed.json())

    revoked = client.delete("/api/tokens/ci-deploy", headers=auth)
    assert revoked.status_code == 200
    assert revoked.json()["active"] is False
    assert revoked.json()["revoked_at"]
    assert client.get("/api/whoami", headers=new_auth).status_code == 401


def test_token_names_are_unique(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post("/api/tokens", headers=auth, json={"name": "tester"})
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict"
    assert "already exists" in response.json()["message"]


@pytest.mark.parametrize("name", ["", "has space", "-leading-dash", "x" * 65, "trailing\n"])
def test_bad_token_names_are_422_naming_the_field(
    client: TestClient, auth: dict[str, str], name: str
) -> None:
    response = client.post("/api/tokens", headers=auth, json={"name": name})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "ValidationError"
    assert body["errors"][0]["field"] == "body.name"
    assert "body.name" in body["message"]


def test_malformed_json_is_422_not_500(client: TestClient, auth: dict[str, str]) -> None:
    response = client.post(
        "/api/tokens", headers={**auth, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert response.status_code == 422
    assert response.json()["message"].startswith("body: not valid JSON at character 1: expecting")
    plain = client.post(
        "/api/tokens", headers={**auth, "Content-Type": "text/plain"}, content=b"name=x"
    )
    assert plain.status_code == 422
    assert plain.json()["message"] == (
        "body: send a JSON object with Content-Type: application/json (got text/plain)"
    )


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"name": "\xff"}', "the body is not UTF-8 (byte 10 cannot be decoded)"),
        (b"[" * 100_000, "the JSON body is nested too deeply"),
        (b'{"name": ' + b"9" * 5000 + b"}", "a number in the JSON body has too many digits"),
    ],
)
def test_a_body_that_cannot_be_read_as_json_says_why(
    client: TestClient, auth: dict[str, str], body: bytes, says: str
) -> None:
    """FastAPI's own answer was "There was an error parsing the body" for each."""
    headers = {**auth, "Content-Type": "application/json"}
    response = client.post("/api/tokens", headers=headers, content=body)
    assert response.status_code == 400
    assert response.json()["message"] == says
    assert response.json()["hint"] == "send the body as JSON in UTF-8"


def test_revoking_an_unknown_token_is_404(client: TestClient, auth: dict[str, str]) -> None:
    response = client.delete("/api/tokens/nobody", headers=auth)
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "message": "no active token named 'nobody'"}

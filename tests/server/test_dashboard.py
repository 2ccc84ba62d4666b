"""The dashboard: login flow, cookie flags, CSRF, pages with real content."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from skybridge.auth.tokens import hash_token
from skybridge.commands.up import demo_settings, ensure_demo_token
from skybridge.core.config import Settings, load_settings
from skybridge.core.errors import ConfigError
from skybridge.server import create_app

Login = Callable[[TestClient, str], str]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


def _set_cookie_headers(response: object) -> list[str]:
    return response.headers.get_list("set-cookie")  # type: ignore[attr-defined,no-any-return]


def test_root_redirects_to_login_when_signed_out(client: TestClient) -> None:
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


@pytest.mark.parametrize("path", ["/backends", "/tokens", "/ui/anything"])
def test_every_page_needs_a_session(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={quote(path, safe='')}"


def test_login_page_has_a_token_field_and_security_headers(client: TestClient) -> None:
    response = client.get("/login")
    assert response.status_code == 200
    assert 'name="token"' in response.text
    assert 'type="password"' in response.text
    assert "script-src" not in response.headers["content-security-policy"]
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


def test_session_cookie_is_httponly_strict_and_holds_no_token(
    client: TestClient, token: str
) -> None:
    form = client.get("/login")
    response = client.post(
        "/login", data={"token": token, "csrf": csrf_of(form.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    session = next(c for c in _set_cookie_headers(response) if c.startswith("skybridge_session="))
    flags = [part.strip().lower() for part in session.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    value = session.split(";")[0].split("=", 1)[1]
    assert token not in value
    assert hash_token(token) not in value


def test_login_cookie_is_httponly_strict(client: TestClient) -> None:
    cookie = _set_cookie_headers(client.get("/login"))[0].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


def test_wrong_token_shows_an_error_and_sets_no_session(client: TestClient) -> None:
    form = client.get("/login")
    response = client.post(
        "/login", data={"token": "sbk_nope", "csrf": csrf_of(form.text)}, follow_redirects=False
    )
    assert response.status_code == 401
    assert "unknown or has been revoked" in response.text
    assert not any(c.startswith("skybridge_session=") for c in _set_cookie_headers(response))


def test_login_without_the_form_csrf_is_refused(client: TestClient, token: str) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"token": token, "csrf": "forged"}, follow_redirects=False
    )
    assert response.status_code == 400
    assert "expired" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_overview_shows_version_backends_and_apps(
    client: TestClient, token: str, login: Login
) -> None:
    login(client, token)
    page = client.get("/")
    assert page.status_code == 200
    text = page.text
    assert "Overview" in text
    for name in ("kv", "objects", "secrets", "notify", "sql"):
        assert f"<strong>{name}</strong>" in text
    assert "6 / 6" in text
    assert "No apps are installed yet" in text
    assert ">tester<" in text


def test_backends_page_lists_status_from_the_probe(
    client: TestClient, token: str, login: Login
) -> None:
    login(client, token)
    text = client.get("/backends").text
    assert text.count('class="pill pill-ok"') == 6  # the six core families
    assert "sqlite:///.skybridge/kv.db" in text


def test_tokens_page_creates_once_and_revokes(client: TestClient, token: str, login: Login) -> None:
    csrf = login(client, token)
    created = client.post("/tokens", data={"name": "from-ui", "csrf": csrf})
    assert created.status_code == 200
    assert "will not be shown again" in created.text
    new_token = created.text.split('id="new-token">')[1].split("<")[0]
    assert new_token.startswith("sbk_")
    bearer = {"Authorization": f"Bearer {new_token}"}
    assert client.get("/api/whoami", headers=bearer).json()["name"] == "from-ui"

    listing = client.get("/tokens")
    assert "from-ui" in listing.text
    assert new_token not in listing.text

    asked = client.post("/tokens/from-ui/revoke", data={"csrf": csrf})
    assert asked.status_code == 200
    assert "Revoke the token &#39;from-ui&#39;?" in asked.text
    assert "signed out" not in asked.text  # not the session's own token
    assert 'href="/tokens">Cancel' in asked.text
    assert client.get("/api/whoami", headers=bearer).status_code == 200  # asked, not revoked

    revoked = client.post("/tokens/from-ui/revoke", data={"csrf": csrf, "confirmed": "yes"})
    assert revoked.status_code == 200
    assert "Token &#39;from-ui&#39; was revoked" in revoked.text
    assert client.get("/api/whoami", headers=bearer).status_code == 401
    again = client.post("/tokens/from-ui/revoke", data={"csrf": csrf, "confirmed": "yes"})
    assert again.status_code == 400
    assert "no active token named &#39;from-ui&#39;" in again.text


def test_forms_without_the_session_csrf_are_403(
    client: TestClient, token: str, login: Login
) -> None:
    login(client, token)
    assert client.post("/tokens", data={"name": "x", "csrf": "forged"}).status_code == 403
    assert client.post("/tokens", data={"name": "x"}).status_code == 403
    assert client.post("/tokens/tester/revoke", data={"csrf": ""}).status_code == 403
    assert client.get("/api/tokens", headers={}).status_code == 401


def test_bad_token_name_in_the_form_shows_what_to_fix(
    client: TestClient, token: str, login: Login
) -> None:
    csrf = login(client, token)
    response = client.post("/tokens", data={"name": "bad name", "csrf": csrf})
    assert response.status_code == 400
    assert "letters, digits" in response.text


def test_revoking_the_sessions_token_ends_the_session(
    client: TestClient, token: str, login: Login
) -> None:
    csrf = login(client, token)
    asked = client.post("/tokens/tester/revoke", data={"csrf": csrf})
    assert "It is the token you are signed in with: you will be signed out." in asked.text
    assert client.get("/", follow_redirects=False).status_code == 200  # still signed in
    done = client.post(
        "/tokens/tester/revoke", data={"csrf": csrf, "confirmed": "yes"}, follow_redirects=False
    )
    assert done.headers["location"] == "/login?signed_out=revoked"
    assert "Your token was revoked" in client.get(done.headers["location"]).text
    response = client.get("/", follow_redirects=False)
    assert response.headers["location"] == "/login"


def test_a_form_posted_without_a_session_returns_to_a_page_that_answers_a_get(
    client: TestClient,
) -> None:
    revoke = client.post("/tokens/x/revoke", data={"csrf": "c"}, follow_redirects=False)
    assert revoke.headers["location"] == "/login"  # /tokens/x/revoke has no page: overview
    create = client.post("/tokens", data={"csrf": "c"}, follow_redirects=False)
    assert create.headers["location"] == "/login?next=%2Ftokens"
    action = client.post("/ui/costs", data={"csrf": "c"}, follow_redirects=False)
    assert action.headers["location"] == "/login?next=%2Fui%2Fcosts"


def test_signing_in_returns_to_the_page_asked_for_and_only_on_this_site(
    client: TestClient, token: str
) -> None:
    asked = client.get("/ui/nowhere?x=1", follow_redirects=False)
    assert asked.headers["location"] == "/login?next=%2Fui%2Fnowhere%3Fx%3D1"
    for target, lands in [
        ("/tokens", "/tokens"),
        ("/ui/costs?x=1", "/ui/costs?x=1"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/login", "/"),
        ("tokens", "/"),
    ]:
        client.cookies.clear()
        form = client.get("/login", params={"next": target})
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf
        response = client.post(
            "/login",
            data={"token": token, "csrf": csrf.group(1), "next": target},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == lands, target


def test_tampered_session_cookie_is_ignored(client: TestClient, token: str, login: Login) -> None:
    login(client, token)
    body, mac = client.cookies["skybridge_session"].split(".")
    forged = base64.urlsafe_b64encode(
        base64.urlsafe_b64decode(body + "==").replace(b'"tester"', b'"admin!"')
    ).rstrip(b"=")
    client.cookies.clear()
    client.cookies.set("skybridge_session", f"{forged.decode()}.{mac}")
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_clears_the_session(client: TestClient, token: str, login: Login) -> None:
    csrf = login(client, token)
    response = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert response.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_dashboard_cookie_does_not_authenticate_the_api(
    client: TestClient, token: str, login: Login
) -> None:
    login(client, token)
    assert client.get("/api/whoami").status_code == 401


def _payload(cookie: str) -> dict[str, object]:
    body = cookie.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))  # type: ignore[no-any-return]


def test_a_session_does_not_survive_its_token_being_replaced_under_the_same_id(
    workdir: Path, login: Login
) -> None:
    settings = demo_settings(load_settings())
    token, _ = ensure_demo_token(settings)
    app = create_app(settings, apps=[])
    tokens = app.state.skybridge.tokens
    old_id = tokens.get("demo").id
    attacker = TestClient(app)
    login(attacker, token)
    tokens.revoke("demo")
    assert attacker.get("/tokens", follow_redirects=False).status_code == 303

    new_token, _ = ensure_demo_token(settings)  # restart: the revoked row is replaced
    assert new_token != token
    restarted = TestClient(create_app(settings, apps=[]))
    assert restarted.app.state.skybridge.tokens.get("demo").id == old_id  # type: ignore[attr-defined]
    restarted.cookies = attacker.cookies
    response = restarted.get("/tokens", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Ftokens"
    login(restarted, new_token)  # the new token itself signs in fine
    assert restarted.get("/tokens", follow_redirects=False).status_code == 200


def test_admin_sessions_carry_a_keyed_fingerprint_and_end_when_the_token_changes(
    settings: Settings, login: Login
) -> None:
    admin = "admin-token-from-a-secret-store-0123456789"

    def app_with(value: str) -> FastAPI:
        server = settings.server.model_copy(update={"admin_token": SecretStr(value)})
        return create_app(settings.model_copy(update={"server": server}), apps=[])

    client = TestClient(app_with(admin))
    login(client, admin)
    fingerprint = _payload(client.cookies["skybridge_session"])["fp"]
    assert isinstance(fingerprint, str)
    assert len(fingerprint) == 16
    assert fingerprint not in hash_token(admin)
    assert client.get("/tokens", follow_redirects=False).status_code == 200

    rotated = TestClient(app_with(admin[::-1]))
    rotated.cookies = client.cookies
    assert rotated.get("/tokens", follow_redirects=False).status_code == 303


def test_a_short_admin_token_is_a_config_error(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="at least 32 characters") as info:
        load_settings(server={"admin_token": "a" * 31})
    assert info.value.setting == "server.admin_token"
    assert load_settings(server={"admin_token": "a" * 32}).server.admin_token is not None


def _non_ascii_cookie(value: str) -> dict[str, bytes]:
    return {"Cookie": f"skybridge_session={value}".encode("latin-1")}


@pytest.mark.parametrize("cookie", ["abc.\u00e9", "\u00e9.abc", "\u00e9"])
def test_non_ascii_session_cookies_are_ignored(app: FastAPI, cookie: str) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    page = client.get("/", headers=_non_ascii_cookie(cookie), follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"] == "/login"
    assert client.get("/login", headers=_non_ascii_cookie(cookie)).status_code == 200


def test_non_ascii_csrf_fields_are_refused_not_errors(
    app: FastAPI, token: str, login: Login
) -> None:
    client = TestClient(app, raise_server_exceptions=False)
    client.get("/login")
    response = client.post("/login", data={"token": token, "csrf": "\u00e9"})
    assert response.status_code == 400
    login(client, token)
    assert client.post("/tokens", data={"name": "x", "csrf": "\u00e9"}).status_code == 403
    assert client.post("/logout", data={"csrf": "\u00e9"}).status_code == 403
    assert client.get("/tokens", follow_redirects=False).status_code == 200

"""Transport and headers, checked against ``skybridge up`` from outside: security headers on
every kind of response, HTTPS with HSTS and Secure cookies, the plain-HTTP refusal, proxies."""

from __future__ import annotations

import os
import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skybridge.testing.process import ServiceProcess, ServiceStarter
from skybridge.testing.service import clear_skybridge_env
from skybridge.testing.tls import self_signed_cert

UP = (sys.executable, "-m", "skybridge.cli", "up")
SECURITY_HEADERS = ("x-content-type-options", "referrer-policy", "x-frame-options")


def _assert_secure_headers(response: httpx.Response) -> None:
    for name in SECURITY_HEADERS:
        assert name in response.headers, (response.url, name)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    csp = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp
    assert "http" not in csp  # no other origin allowed


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field"
    return match.group(1)


@pytest.mark.parametrize(
    ("path", "auth"),
    [
        ("/docs", False),
        ("/docs/assets/swagger-ui-bundle.js", False),
        ("/openapi.json", False),
        ("/api/whoami", False),
        ("/api/whoami", True),
        ("/api/nowhere", True),
        ("/login", False),
        ("/", False),
        ("/static/style.css", False),
        ("/healthz", False),
        ("/metrics", False),
    ],
)
def test_security_headers_on_every_kind_of_response(
    service: ServiceProcess, path: str, auth: bool
) -> None:
    with service.client() as client:
        response = client.get(path, headers=service.auth if auth else {})
    _assert_secure_headers(response)
    assert "strict-transport-security" not in response.headers  # plain HTTP on loopback


def test_docs_csp_allows_only_this_origin(service: ServiceProcess) -> None:
    with service.client() as client:
        csp = client.get("/docs").headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "cdn" not in csp


@pytest.fixture(scope="module")
def tls_service(
    tmp_path_factory: pytest.TempPathFactory, start_service: ServiceStarter
) -> Iterator[ServiceProcess]:
    workdir = Path(tmp_path_factory.mktemp("tls"))
    cert, key = self_signed_cert(workdir / "tls")
    args = ("--tls-cert", str(cert), "--tls-key", str(key))
    verify = ssl.create_default_context(cafile=str(cert))
    with start_service(workdir, *args, scheme="https", verify=verify) as running:
        yield running


def test_https_sends_hsts_everywhere(tls_service: ServiceProcess) -> None:
    with tls_service.client() as client:
        for path in ("/healthz", "/docs", "/openapi.json", "/api/whoami", "/login"):
            response = client.get(path)
            assert response.headers["strict-transport-security"] == "max-age=31536000", path
            _assert_secure_headers(response)


def test_cookies_are_secure_over_https(tls_service: ServiceProcess) -> None:
    with tls_service.client(follow_redirects=False) as client:
        form = client.get("/login")
        assert "Secure" in form.headers["set-cookie"]
        login = client.post("/login", data={"token": tls_service.token, "csrf": _csrf(form.text)})
        assert login.status_code == 303, login.text
        session = next(c for c in login.headers.get_list("set-cookie") if "skybridge_session" in c)
        assert "Secure" in session
        assert "HttpOnly" in session
        assert "SameSite=strict" in session


def test_plain_http_is_refused_on_a_non_loopback_address(tmp_path: Path) -> None:
    env = clear_skybridge_env()
    for host in ("0.0.0.0", "::"):
        result = subprocess.run(
            [*UP, "--host", host, "--port", "18999"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert "refusing to serve plain HTTP" in result.stderr
        assert "--tls-cert" in result.stderr
        assert "--insecure-bind" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert "dashboard:" not in result.stderr  # refused before anything is printed


def test_mismatched_tls_files_are_refused_with_exit_2(tmp_path: Path) -> None:
    cert, _ = self_signed_cert(tmp_path / "a")
    _, other_key = self_signed_cert(tmp_path / "b")
    result = subprocess.run(
        [*UP, "--tls-cert", str(cert), "--tls-key", str(other_key), "--port", "18998"],
        cwd=tmp_path,
        env=clear_skybridge_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "do not load" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("trusted", "secure"), [("127.0.0.1", True), ("10.9.9.9", False)])
def test_a_trusted_proxy_saying_https_makes_cookies_secure(
    tmp_path: Path, start_service: ServiceStarter, trusted: str, secure: bool
) -> None:
    with (
        start_service(tmp_path, "--forwarded-allow-ips", trusted) as service,
        service.client() as client,
    ):
        response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert ("Secure" in response.headers["set-cookie"]) is secure
    assert ("strict-transport-security" in response.headers) is secure


def test_no_secret_reaches_the_service_log(service: ServiceProcess) -> None:
    with service.client() as client:
        client.get("/api/whoami", headers=service.auth)
        client.post("/api/tokens", content=b"x" * 10, headers={"Authorization": "Bearer sbk_nope"})
    deadline = time.monotonic() + 10  # log lines go out through a thread of their own
    while '"path": "/api/tokens"' not in (log := service.log.read_text()):
        assert time.monotonic() < deadline, "the access log line of the POST never came"
        time.sleep(0.05)
    assert service.token not in log
    assert "sbk_nope" not in log
    assert os.environ.get("SKYBRIDGE__SERVER__ADMIN_TOKEN", "\0") not in log

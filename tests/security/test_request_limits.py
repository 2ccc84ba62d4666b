"""Attacks on request handling, replayed against ``skybridge up`` as a black-box HTTP client.

Bodies go over raw sockets where it matters: the server must answer from the headers alone,
before a byte of the body is sent, and an unauthenticated 150 MiB body must not grow it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from skybridge.testing.process import ServiceProcess, ServiceStarter

MiB = 1024 * 1024
ATTACK_BODY = 150 * MiB


def _send_head(
    service: ServiceProcess, method: str, path: str, headers: dict[str, str]
) -> socket.socket:
    sock = service.raw_socket()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        body += sock.recv(65536)
    return int(status_line.split()[1]), headers, body


def _blast(sock: socket.socket, total: int, *, chunked: bool) -> int:
    """Send up to ``total`` body bytes; stop when the server stops reading. Returns bytes sent."""
    block = b"x" * MiB
    frame = f"{len(block):x}\r\n".encode() + block + b"\r\n" if chunked else block
    sent = 0
    try:
        while sent < total:
            sock.sendall(frame)
            sent += len(block)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    return sent


def _framing(chunked: bool, size: int) -> dict[str, str]:
    if chunked:
        return {"Transfer-Encoding": "chunked"}
    return {"Content-Length": str(size)}


def _warm_up(service: ServiceProcess) -> None:
    with service.client() as client:
        for _ in range(3):
            client.get("/api/whoami", headers=service.auth)
            client.post("/api/tokens", content=b"{}", headers={"Content-Type": "application/json"})
            client.get("/docs")
            client.get("/openapi.json")


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_401_comes_from_the_headers_before_any_body_byte(
    service: ServiceProcess, chunked: bool
) -> None:
    headers = {"Content-Type": "application/json", **_framing(chunked, ATTACK_BODY)}
    with _send_head(service, "POST", "/api/tokens", headers) as sock:
        status, response_headers, body = _read_response(sock)  # no body byte sent yet
    assert status == 401
    assert response_headers["www-authenticate"] == "Bearer"
    assert json.loads(body)["error"] == "Unauthorized"


def test_unauthenticated_150_mib_bodies_leave_memory_flat(
    service: ServiceProcess, record_property: pytest.RecordProperty
) -> None:
    _warm_up(service)
    before = service.memory_mib()
    sent = 0
    for chunked in (False, True, False, True):
        headers = {"Content-Type": "application/json", **_framing(chunked, ATTACK_BODY)}
        with _send_head(service, "POST", "/api/tokens", headers) as sock:
            status, _, _ = _read_response(sock)
            sent += _blast(sock, ATTACK_BODY, chunked=chunked)
        assert status == 401
    after = service.memory_mib()
    grew = {name: round(after[name] - before[name], 1) for name in before}
    record_property("memory_mib", {"before": before, "after": after, "grew": grew})
    print(f"sent {sent // MiB} MiB unauthenticated; server MiB before={before} after={after}")
    assert grew["VmRSS"] < 50, grew
    assert grew["VmHWM"] < 50, grew


def test_unauthenticated_non_json_body_is_401_not_422(service: ServiceProcess) -> None:
    with service.client() as client:
        for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
            response = client.post(
                "/api/tokens", content=b"\xff\xfenot json", headers={"Content-Type": content_type}
            )
            assert response.status_code == 401, response.text
            assert response.json()["error"] == "Unauthorized"
        wrong = client.post(
            "/api/tokens", content=b"<xml/>", headers={"Authorization": "Bearer sbk_guessed"}
        )
        assert wrong.status_code == 401


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_cap_is_413_with_the_limit_and_what_to_do(
    service: ServiceProcess, chunked: bool
) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"name": "'
        for _ in range(2):
            yield b"a" * MiB
        yield b'"}'

    content = body() if chunked else b"".join(body())
    with service.client() as client:
        response = client.post("/api/tokens", content=content, headers=service.auth)
    assert response.status_code == 413
    error = response.json()
    assert error["error"] == "ContentTooLarge"
    assert "1 MiB" in error["message"]
    assert "server.max_body_bytes" in error["message"]


def test_an_announced_oversized_body_is_refused_before_it_is_sent(
    service: ServiceProcess,
) -> None:
    headers = {**service.auth, "Content-Type": "application/json"}
    headers["Content-Length"] = str(ATTACK_BODY)
    with _send_head(service, "POST", "/api/tokens", headers) as sock:
        status, _, body = _read_response(sock)
    assert status == 413
    assert "1 MiB" in json.loads(body)["message"]


def test_a_route_may_take_a_larger_body(service: ServiceProcess) -> None:
    with service.client() as client:
        ok = client.post("/api/slowpoke/upload", content=b"x" * (5 * MiB), headers=service.auth)
        assert ok.status_code == 200, ok.text
        assert ok.json() == {"bytes": 5 * MiB}
        over = client.post("/api/slowpoke/upload", content=b"x" * (9 * MiB), headers=service.auth)
        assert over.status_code == 413
        assert "8 MiB" in over.json()["message"]


def test_dashboard_forms_are_capped_too(service: ServiceProcess) -> None:
    with service.client() as client:
        response = client.post("/login", data={"token": "t" * (2 * MiB), "csrf": "x"})
    assert response.status_code == 413


@pytest.fixture(scope="module")
def rate_limited(
    tmp_path_factory: pytest.TempPathFactory, start_service: ServiceStarter
) -> Iterator[ServiceProcess]:
    limits = {
        "SKYBRIDGE__SERVER__TOKEN_RATE_PER_SECOND": "1",
        "SKYBRIDGE__SERVER__TOKEN_RATE_BURST": "5",
        "SKYBRIDGE__SERVER__ANONYMOUS_RATE_PER_SECOND": "0.5",
        "SKYBRIDGE__SERVER__ANONYMOUS_RATE_BURST": "4",
    }
    with start_service(tmp_path_factory.mktemp("limited"), env=limits) as running:
        yield running


def test_a_token_over_its_rate_gets_429_with_retry_after(
    rate_limited: ServiceProcess,
) -> None:
    with rate_limited.client() as client:
        auth = rate_limited.auth
        statuses = [client.get("/api/whoami", headers=auth).status_code for _ in range(8)]
        assert statuses[:5] == [200] * 5
        assert statuses[5:] == [429] * 3
        refused = client.get("/api/whoami", headers=rate_limited.auth)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == "TooManyRequests"
        assert rate_limited.token not in refused.text
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 200


def test_guessing_tokens_from_one_address_gets_429(rate_limited: ServiceProcess) -> None:
    with rate_limited.client() as client:
        guesses = [
            client.get("/api/whoami", headers={"Authorization": f"Bearer sbk_guess{i}"})
            for i in range(8)
        ]
    statuses = [g.status_code for g in guesses]
    assert statuses[0] == 401
    assert 429 in statuses
    assert all(int(g.headers["retry-after"]) >= 1 for g in guesses if g.status_code == 429)

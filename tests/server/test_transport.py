"""How ``skybridge up`` listens: TLS files, the plain-HTTP refusal, trusted proxies."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.core.config import ServerConfig
from skybridge.core.errors import ConfigError
from skybridge.server.transport import Transport, is_loopback, resolve_transport
from skybridge.testing.tls import self_signed_cert


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("example.org", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_plain_http_off_loopback_is_refused_with_what_to_do(host: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_transport(ServerConfig(), host=host)
    assert info.value.setting == "--host"
    assert "plain HTTP" in info.value.message
    assert "--tls-cert" in (info.value.hint or "")
    assert "--insecure-bind" in (info.value.hint or "")


def test_insecure_bind_allows_it_from_the_flag_or_the_setting() -> None:
    assert not resolve_transport(ServerConfig(), host="0.0.0.0", insecure_bind=True).tls
    assert resolve_transport(ServerConfig(insecure_bind=True), host="0.0.0.0").host == "0.0.0.0"


def test_tls_serves_https_anywhere(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    transport = resolve_transport(ServerConfig(), host="0.0.0.0", cert=cert, key=key, port=8443)
    assert transport.url() == "https://127.0.0.1:8443/"
    options = transport.uvicorn_options()
    assert options["ssl_certfile"] == str(cert)
    assert options["ssl_keyfile"] == str(key)
    assert options["forwarded_allow_ips"] == "127.0.0.1"


def test_tls_from_settings(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path)
    assert resolve_transport(ServerConfig(tls_cert=cert, tls_key=key)).tls


def test_half_a_tls_setting_is_refused(tmp_path: Path) -> None:
    cert, _ = self_signed_cert(tmp_path)
    with pytest.raises(ConfigError, match="both a certificate and its key") as info:
        resolve_transport(ServerConfig(), cert=cert)
    assert info.value.setting == "server.tls_key (--tls-key)"


def test_a_missing_or_mismatched_tls_file_is_refused(tmp_path: Path) -> None:
    cert, key = self_signed_cert(tmp_path / "a")
    _, other_key = self_signed_cert(tmp_path / "b")
    with pytest.raises(ConfigError, match="no file at"):
        resolve_transport(ServerConfig(), cert=tmp_path / "nope.pem", key=key)
    with pytest.raises(ConfigError, match="do not load"):
        resolve_transport(ServerConfig(), cert=cert, key=other_key)
    with pytest.raises(ConfigError, match="do not load"):
        resolve_transport(ServerConfig(), cert=key, key=key)


@pytest.mark.parametrize("proxies", ["10.0.0.5", "10.0.0.0/24, 192.168.0.1", "*", "::1"])
def test_trusted_proxies_accept_addresses_and_networks(proxies: str) -> None:
    transport = resolve_transport(ServerConfig(), forwarded_allow_ips=proxies)
    assert transport.uvicorn_options()["forwarded_allow_ips"] == proxies


def test_a_bad_trusted_proxy_is_named() -> None:
    with pytest.raises(ConfigError, match=r"'proxy\.example' is not an IP") as info:
        resolve_transport(ServerConfig(), forwarded_allow_ips="10.0.0.1,proxy.example")
    assert "forwarded_allow_ips" in (info.value.setting or "")


def test_ipv6_urls_are_bracketed() -> None:
    assert Transport("::1", 8080).url() == "http://[::1]:8080/"

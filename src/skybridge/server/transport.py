"""How ``skybridge up`` listens: HTTPS, no plain HTTP off loopback, which proxies to trust.

Plain HTTP carries API tokens and session cookies in clear text, so the service serves it only
on a loopback address, unless told ``--insecure-bind`` (a TLS-terminating proxy in front, on a
network you trust). With ``--tls-cert``/``--tls-key`` uvicorn serves HTTPS itself. Behind a
proxy, ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only from
``forwarded_allow_ips``: then rate limits see the real client and cookies get ``Secure`` when
the proxy says the client used HTTPS. No web framework is imported here.
"""

from __future__ import annotations

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skybridge.core.config import ServerConfig
from skybridge.core.errors import ConfigError

_CERT = "server.tls_cert (--tls-cert)"
_KEY = "server.tls_key (--tls-key)"
_PROXIES = "server.forwarded_allow_ips (--forwarded-allow-ips)"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) is reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _readable(path: Path, setting: str) -> None:
    if not path.is_file():
        raise ConfigError(f"no file at {path}", setting=setting, hint="give a PEM file's path")


def check_tls_files(cert: Path | None, key: Path | None) -> None:
    """Refuse half a TLS setting, a missing file, or a certificate and key that do not match."""
    if cert is None and key is None:
        return
    if cert is None or key is None:
        missing = _CERT if cert is None else _KEY
        raise ConfigError("HTTPS needs both a certificate and its key", setting=missing)
    _readable(cert, _CERT)
    _readable(key, _KEY)
    try:
        # An encrypted key would make OpenSSL prompt on the terminal: fail instead.
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"the certificate {cert} and key {key} do not load: {exc.strerror or exc}",
            setting=_CERT,
            hint="give a PEM certificate chain and the unencrypted PEM key that matches it",
        ) from None


def check_proxies(value: str) -> None:
    """Refuse a trusted-proxy list that is not ``*`` or comma-separated IPs / CIDRs."""
    for entry in (part.strip() for part in value.split(",")):
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ConfigError(
                f"{entry!r} is not an IP address or network",
                setting=_PROXIES,
                hint="e.g. 10.0.0.5 or 10.0.0.0/24, comma-separated",
            ) from None


def check_bind(host: str, *, tls: bool, insecure_bind: bool) -> None:
    """Refuse plain HTTP on an address other machines can reach, unless explicitly allowed."""
    if tls or insecure_bind or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to serve plain HTTP on {host}: API tokens and session cookies would cross "
        "the network in clear text",
        setting="--host",
        hint=(
            "serve HTTPS with --tls-cert and --tls-key; or bind 127.0.0.1 behind a "
            "TLS-terminating proxy; or, with such a proxy on another machine, pass "
            "--insecure-bind and --forwarded-allow-ips <proxy address>"
        ),
    )


@dataclass(frozen=True)
class Transport:
    """Where and how the service listens, checked."""

    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None
    forwarded_allow_ips: str = "127.0.0.1"

    @property
    def tls(self) -> bool:
        return self.cert is not None

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def url(self) -> str:
        """The address to open in a browser on this machine."""
        scheme = "https" if self.tls else "http"
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        shown = f"[{shown}]" if ":" in shown else shown
        return f"{scheme}://{shown}:{self.port}/"

    def uvicorn_options(self) -> dict[str, Any]:
        """``uvicorn.run`` keyword arguments for TLS and trusted proxies."""
        options: dict[str, Any] = {
            "proxy_headers": True,
            "forwarded_allow_ips": self.forwarded_allow_ips,
        }
        if self.cert is not None and self.key is not None:
            options.update(ssl_certfile=str(self.cert), ssl_keyfile=str(self.key))
        return options


def resolve_transport(
    server: ServerConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    insecure_bind: bool = False,
    forwarded_allow_ips: str | None = None,
) -> Transport:
    """Command-line choices over ``[server]`` settings, checked before anything starts."""
    transport = Transport(
        host=host or server.host,
        port=port or server.port,
        cert=cert or server.tls_cert,
        key=key or server.tls_key,
        forwarded_allow_ips=forwarded_allow_ips or server.forwarded_allow_ips,
    )
    check_tls_files(transport.cert, transport.key)
    check_proxies(transport.forwarded_allow_ips)
    allowed = insecure_bind or server.insecure_bind
    check_bind(transport.host, tls=transport.tls, insecure_bind=allowed)
    return transport

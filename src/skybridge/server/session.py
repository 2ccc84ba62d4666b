"""Signed dashboard sessions and CSRF tokens (HMAC-SHA256, standard library only).

The session cookie holds who logged in (token name and id, never the token itself), a per-session
CSRF token and the issue time, signed with ``server.session_secret``. When that setting is unset a
random secret is generated once and kept in ``<data_dir>/session_secret`` (mode 0600), so sessions
survive restarts. Revoking a token ends its sessions: each request re-checks the token is active.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skybridge.auth.tokens import Principal
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError

SESSION_COOKIE = "skybridge_session"
LOGIN_COOKIE = "skybridge_login"
SESSION_MAX_AGE = 12 * 3600
LOGIN_MAX_AGE = 3600
SECRET_FILE = "session_secret"  # noqa: S105 - a file name


def load_session_secret(settings: Settings) -> bytes:
    """``server.session_secret``, or the per-data-dir secret, created (0600) when missing."""
    if settings.server.session_secret is not None:
        value = settings.server.session_secret.get_secret_value()
        if len(value) < 16:
            raise ConfigError("must be at least 16 characters", setting="server.session_secret")
        return value.encode("utf-8")
    path = Path(settings.data_dir) / SECRET_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}", setting="data_dir") from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    return path.read_bytes().strip()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs small JSON payloads; ``purpose`` keeps one cookie from being replayed as another."""

    def __init__(self, secret: bytes, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._secret = secret
        self._clock = clock

    def _mac(self, purpose: str, body: str) -> str:
        message = f"{purpose}.{body}".encode("ascii")
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def dumps(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps({**payload, "iat": int(self._clock.now())}).encode("utf-8"))
        return f"{body}.{self._mac(purpose, body)}"

    def loads(self, purpose: str, value: str | None, *, max_age: int) -> dict[str, Any] | None:
        """The payload of a valid, unexpired ``value``; ``None`` for anything else."""
        if not value or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        issued = payload.get("iat") if isinstance(payload, dict) else None
        if not isinstance(issued, int) or self._clock.now() - issued > max_age:
            return None
        result: dict[str, Any] = payload
        return result


@dataclass(frozen=True)
class Session:
    """A logged-in dashboard user."""

    principal: Principal
    csrf: str
    admin_fingerprint: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "sub": self.principal.name,
            "kind": self.principal.kind,
            "tid": self.principal.token_id,
            "csrf": self.csrf,
            "fp": self.admin_fingerprint,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Session | None:
        try:
            principal = Principal(str(payload["sub"]), payload["kind"], payload["tid"])
            return cls(principal, str(payload["csrf"]), payload.get("fp"))
        except (KeyError, TypeError):
            return None

    @classmethod
    def start(cls, principal: Principal, admin_fingerprint: str | None) -> Session:
        return cls(principal, secrets.token_urlsafe(24), admin_fingerprint)

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(str(submitted), self.csrf)

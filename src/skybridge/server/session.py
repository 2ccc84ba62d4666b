"""Signed dashboard sessions and CSRF tokens (HMAC-SHA256, standard library only).

The session cookie holds who logged in (token name and id, never the token itself), a keyed
fingerprint of that token, a per-session CSRF token and the issue time, signed with
``server.session_secret``. When that setting is unset a random secret is generated once and kept
in ``<data_dir>/session_secret`` (mode 0600), so sessions survive restarts.

Sessions are stateless: nothing is stored server-side, so logging out only deletes the cookie in
that browser, and a copy of the cookie stays valid until it expires (12 hours after login) or its
token is revoked. Revoking (or replacing) a token ends all of its sessions at once: each request
re-checks that the token with the session's fingerprint is still active.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skybridge.auth.tokens import Principal
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError
from skybridge.core.private_files import private_dir

SESSION_COOKIE = "skybridge_session"
LOGIN_COOKIE = "skybridge_login"
SESSION_MAX_AGE = 12 * 3600
LOGIN_MAX_AGE = 3600
SECRET_FILE = "session_secret"  # noqa: S105 - a file name
MIN_SECRET_BYTES = 32


def load_session_secret(settings: Settings) -> bytes:
    """``server.session_secret``, or the per-data-dir secret, created (0600) when missing.

    The file is written in full to a temporary file and then hard-linked into place, so no
    process ever reads a partly written secret; when several start at once, the first link wins
    and the others read its secret.
    """
    if settings.server.session_secret is not None:
        value = settings.server.session_secret.get_secret_value()
        if len(value) < 16:
            raise ConfigError("must be at least 16 characters", setting="server.session_secret")
        return value.encode("utf-8")
    path = Path(settings.data_dir) / SECRET_FILE
    if not path.exists():
        _create_secret_file(path)
    return _read_secret_file(path)


def _create_secret_file(path: Path) -> None:
    try:
        private_dir(path.parent)
        fd, temp = tempfile.mkstemp(prefix=f".{SECRET_FILE}.", dir=path.parent)  # mode 0600
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}", setting="data_dir") from None
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}", setting="data_dir") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _read_secret_file(path: Path) -> bytes:
    try:
        value = path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", setting="data_dir") from None
    if len(value) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{path} holds a session secret shorter than {MIN_SECRET_BYTES} bytes",
            setting="server.session_secret",
            hint=f"delete {path} to regenerate it or set server.session_secret",
        )
    return value


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

    def fingerprint(self, token_hash: str) -> str:
        """A short keyed digest of a token's stored hash, to bind sessions to that very token.

        Keyed with the session secret, so a cookie (readable by its holder) reveals nothing
        about the token hash itself.
        """
        message = f"fingerprint.{token_hash}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:16]

    def dumps(self, purpose: str, payload: dict[str, Any]) -> str:
        body = _b64(json.dumps({**payload, "iat": int(self._clock.now())}).encode("utf-8"))
        return f"{body}.{self._mac(purpose, body)}"

    def loads(self, purpose: str, value: str | None, *, max_age: int) -> dict[str, Any] | None:
        """The payload of a valid, unexpired ``value``; ``None`` for anything else."""
        if not value or not value.isascii() or value.count(".") != 1:
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
    #: :meth:`Signer.fingerprint` of the token logged in with (stored or admin).
    fingerprint: str | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "sub": self.principal.name,
            "kind": self.principal.kind,
            "tid": self.principal.token_id,
            "csrf": self.csrf,
            "fp": self.fingerprint,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Session | None:
        try:
            principal = Principal(str(payload["sub"]), payload["kind"], payload["tid"])
            return cls(principal, str(payload["csrf"]), payload.get("fp"))
        except (KeyError, TypeError):
            return None

    @classmethod
    def start(cls, principal: Principal, fingerprint: str | None) -> Session:
        return cls(principal, secrets.token_urlsafe(24), fingerprint)

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and safe_equal(str(submitted), self.csrf)


def safe_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two strings, any characters (compared as UTF-8 bytes)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))

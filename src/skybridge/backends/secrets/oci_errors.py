"""Translation of ``oci`` SDK errors from Vault / Secrets into the skybridge error tree."""

from __future__ import annotations

import oci

from skybridge.backends.secrets.base import VersionExists
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.secret import scrub


class PreconditionFailed(Conflict):
    """412: the secret changed since it was read (its etag no longer matches)."""


#: 409 codes that mean "busy right now", not "your request contradicts the state".
_BUSY = {"IncorrectState", "LockConflict"}


def _retry_after(headers: object) -> float | None:
    value = headers.get("retry-after") if isinstance(headers, dict) else None
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def translate(exc: Exception, *, operation: str, secret: str) -> SkybridgeError:
    """The skybridge error for an ``oci`` error raised by ``operation`` on ``secret``."""
    if isinstance(exc, oci.exceptions.ServiceError):
        return _service_error(exc, operation, secret)
    if isinstance(exc, oci.exceptions.RequestException | oci.exceptions.BaseConnectTimeout):
        return TransientError(f"oci-vault {operation} on '{secret}' could not reach OCI")
    if isinstance(exc, oci.exceptions.ClientError):
        return ConfigError(f"oci-vault client configuration is invalid: {type(exc).__name__}")
    raise exc


def _service_error(exc: oci.exceptions.ServiceError, operation: str, secret: str) -> SkybridgeError:
    status, code = int(exc.status), str(exc.code)
    detail = scrub(str(exc.message or ""))
    message = f"oci-vault {operation} on '{secret}' failed: {status} {code}: {detail}"
    if status == 429 or status >= 500:
        return TransientError(message, retry_after=_retry_after(exc.headers))
    if status == 401:
        return TerminalError(message, hint="check the OCI API key, fingerprint and user OCID")
    if status == 404:
        return NotFound(f"secret '{secret}' or the version asked for was not found ({operation})")
    if status == 409:
        return TransientError(message) if code in _BUSY else Conflict(message)
    if status == 412:
        return PreconditionFailed(message, hint="the secret changed meanwhile; read it again")
    if status == 400 and "already exists" in detail.lower():
        return VersionExists(message) if operation == "UpdateSecret" else Conflict(message)
    if status == 400 and code == "LimitExceeded":
        return Conflict(message, hint="call prune_versions() to delete deprecated versions")
    if status == 400:
        return ValidationError(message)
    return TerminalError(message)

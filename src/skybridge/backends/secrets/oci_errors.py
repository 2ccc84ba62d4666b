"""Translation of ``oci`` SDK errors from Vault / Secrets into the skybridge error tree."""

from __future__ import annotations

import oci

from skybridge.backends.cloud.oci import translate_client_side_error, translate_service_error
from skybridge.backends.secrets.base import VersionExists, VersionLimitReached
from skybridge.backends.secrets.oci_clients import SETTING
from skybridge.core.errors import Conflict, SkybridgeError, ValidationError
from skybridge.core.secret import scrub


class PreconditionFailed(Conflict):
    """412: the secret changed since it was read (its etag no longer matches)."""


def translate(exc: Exception, *, operation: str, secret: str) -> SkybridgeError:
    """The skybridge error for an ``oci`` error raised by ``operation`` on ``secret``."""
    if isinstance(exc, oci.exceptions.ServiceError):
        return _service_error(exc, operation, secret)
    error = translate_client_side_error(
        exc, unreachable=f"oci-vault {operation} on '{secret}' could not reach OCI", setting=SETTING
    )
    if error is None:
        raise exc
    return error


def _service_error(exc: oci.exceptions.ServiceError, operation: str, secret: str) -> SkybridgeError:
    status, code = int(exc.status), str(exc.code)
    detail = scrub(str(exc.message or ""))
    message = f"oci-vault {operation} on '{secret}' failed: {status} {code}: {detail}"
    if status == 412:
        return PreconditionFailed(message, hint="the secret changed meanwhile; read it again")
    if status == 400 and "already exists" in detail.lower():
        return VersionExists(message) if operation == "UpdateSecret" else Conflict(message)
    if status == 400 and code == "LimitExceeded":
        return VersionLimitReached(
            message, hint="call prune_versions() to delete deprecated versions"
        )
    if status == 400:
        return ValidationError(message)
    return translate_service_error(
        exc,
        message,
        not_found=f"secret '{secret}' or the version asked for was not found ({operation})",
    )

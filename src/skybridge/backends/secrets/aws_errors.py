"""Translation of botocore errors from Secrets Manager into the skybridge error tree.

The classification every AWS service shares is :mod:`skybridge.backends.cloud.aws`; this module
adds Secrets Manager's own codes and its "scheduled for deletion" cases.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import classify_botocore, client_error_info
from skybridge.core.errors import Conflict, NotFound, SkybridgeError

_VALIDATION = frozenset(
    {
        "InvalidParameterException",
        "ValidationException",
        "MalformedPolicyDocument",
        "InvalidRequestException",
    }
)
_CONFLICT = frozenset({"ResourceExistsException", "PreconditionNotMetException"})
_SETTING = "backends.secrets"


def translate(exc: Exception, *, operation: str, secret: str) -> SkybridgeError:
    """The skybridge error for a botocore error raised by ``operation`` on ``secret``."""
    if isinstance(exc, ClientError):
        return _client_error(exc, operation, secret)
    if isinstance(exc, BotoCoreError):
        subject = f"'{secret}' ({operation})"
        return classify_botocore(exc, service="aws-sm", subject=subject, setting=_SETTING)
    raise exc


def _client_error(exc: ClientError, operation: str, secret: str) -> SkybridgeError:
    info = client_error_info(exc)
    code = info.code or "Unknown"
    message = f"aws-sm {operation} on '{secret}' failed: {code}: {info.message}"
    if code == "InvalidRequestException" and "delet" in info.message.lower():
        if operation == "CreateSecret":
            return Conflict(
                f"secret name '{secret}' is still reserved by a secret scheduled for deletion",
                hint="restore it, force-delete it, or pick another name",
            )
        return NotFound(f"secret '{secret}' is scheduled for deletion ({operation})")
    error = classify_botocore(
        exc,
        service="aws-sm",
        subject=f"'{secret}'",
        text=message,
        not_found=frozenset({"ResourceNotFoundException"}),
        conflict=_CONFLICT,
        invalid=_VALIDATION,
    )
    if isinstance(error, NotFound):
        return NotFound(f"secret '{secret}' not found in AWS Secrets Manager ({operation})")
    return error

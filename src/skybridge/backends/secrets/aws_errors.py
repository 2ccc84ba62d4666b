"""Translation of botocore errors from Secrets Manager into the skybridge error tree."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

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

_TRANSIENT = {
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "InternalServiceError",
    "InternalFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}
_VALIDATION = {"InvalidParameterException", "ValidationException", "MalformedPolicyDocument"}
_CONFLICT = {"ResourceExistsException", "PreconditionNotMetException"}


def translate(exc: Exception, *, operation: str, secret: str) -> SkybridgeError:
    """The skybridge error for a botocore error raised by ``operation`` on ``secret``."""
    if isinstance(exc, ClientError):
        return _client_error(exc, operation, secret)
    if isinstance(exc, NoCredentialsError):
        return ConfigError(
            "no AWS credentials found for aws-sm://",
            hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or use an IAM role",
        )
    if isinstance(exc, ConnectionError | ReadTimeoutError):
        return TransientError(f"aws-sm {operation} on '{secret}' could not reach AWS: {exc}")
    if isinstance(exc, BotoCoreError):
        return TerminalError(f"aws-sm {operation} on '{secret}' failed: {scrub(str(exc))}")
    raise exc


def _client_error(exc: ClientError, operation: str, secret: str) -> SkybridgeError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    detail = scrub(str(error.get("Message", "")))
    message = f"aws-sm {operation} on '{secret}' failed: {code}: {detail}"
    if code in _TRANSIENT or status == 429 or status >= 500:
        return TransientError(message)
    if code == "ResourceNotFoundException":
        return NotFound(f"secret '{secret}' not found in AWS Secrets Manager ({operation})")
    if code == "InvalidRequestException" and "delet" in detail.lower():
        if operation == "CreateSecret":
            return Conflict(
                f"secret name '{secret}' is still reserved by a secret scheduled for deletion",
                hint="restore it, force-delete it, or pick another name",
            )
        return NotFound(f"secret '{secret}' is scheduled for deletion ({operation})")
    if code in _CONFLICT:
        return Conflict(message)
    if code in _VALIDATION or code == "InvalidRequestException":
        return ValidationError(message)
    return TerminalError(message)

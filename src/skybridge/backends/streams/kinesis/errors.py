"""botocore errors from Kinesis as the core error tree."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

from skybridge.core.errors import (
    Conflict,
    NotFound,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)

_TRANSIENT = {
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "KMSThrottlingException",
    "InternalFailure",
    "ServiceUnavailable",
}
_CONFLICT = {"ResourceInUseException"}
_INVALID = {"InvalidArgumentException", "ValidationException"}


class ExpiredIterator(ValidationError):
    """A shard iterator used after it expired (five minutes after it was handed out): a new
    one for the same position reads on."""


def translate_error(exc: Exception, operation: str) -> SkybridgeError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        text = f"kinesis {operation} failed: {code}: {exc.response.get('Error', {}).get('Message')}"
        if code in _TRANSIENT or status >= 500:
            return TransientError(text)
        if code == "ResourceNotFoundException":
            return NotFound(text)
        if code in _CONFLICT:
            return Conflict(text)
        if code == "ExpiredIteratorException":
            return ExpiredIterator(text)
        if code in _INVALID:
            return ValidationError(text)
        return TerminalError(text)
    if isinstance(exc, ConnectionError | ReadTimeoutError):
        return TransientError(f"kinesis {operation}: {exc}")
    if isinstance(exc, BotoCoreError):
        return TerminalError(f"kinesis {operation} failed: {exc}")
    raise exc

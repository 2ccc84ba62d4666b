"""Translate botocore errors from DynamoDB into skybridge's error tree."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from skybridge.core.errors import (
    ConfigError,
    Conflict,
    SkybridgeError,
    TerminalError,
    TransientError,
    ValidationError,
)

_CONDITION_FAILED = "ConditionalCheckFailedException"
_TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
        "TransactionInProgressException",
    }
)
_CONFLICT = frozenset({_CONDITION_FAILED, "TransactionConflictException", "ResourceInUseException"})
_DENIED = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
    }
)


def is_condition_failure(exc: ClientError) -> bool:
    return bool(exc.response.get("Error", {}).get("Code") == _CONDITION_FAILED)


def translate_error(exc: BotoCoreError | ClientError, table: str | None = None) -> SkybridgeError:
    """The skybridge error for a botocore error raised by a DynamoDB call on ``table``."""
    if isinstance(exc, ClientError):
        return _translate_client_error(exc, table)
    if isinstance(exc, ConnectionError | HTTPClientError):
        return TransientError(f"DynamoDB unreachable: {exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError | NoRegionError):
        return ConfigError(
            f"DynamoDB client is not configured: {exc}",
            hint="set AWS credentials and a region (?region= in the URL or AWS_DEFAULT_REGION)",
        )
    return TerminalError(f"DynamoDB call failed: {exc}")


def _translate_client_error(exc: ClientError, table: str | None) -> SkybridgeError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = f"DynamoDB {exc.operation_name} failed: {code}: {error.get('Message', '')}"
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code in _TRANSIENT or status >= 500:
        return TransientError(message)
    if code in _CONFLICT:
        return Conflict(message)
    if code == "ResourceNotFoundException":
        return ConfigError(
            f"DynamoDB table {table or '?'} does not exist",
            hint="create it (partition key 'ns', sort key 'k', both strings) or add ?create=true",
        )
    if code in _DENIED:
        return TerminalError(message, hint="check the credentials and IAM permissions")
    if code == "ValidationException":
        return ValidationError(message)
    return TerminalError(message)

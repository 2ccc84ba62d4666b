"""Translate botocore errors from DynamoDB into skybridge's error tree."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import classify_botocore, client_error_info
from skybridge.core.errors import ConfigError, SkybridgeError, TerminalError

_CONDITION_FAILED = "ConditionalCheckFailedException"
_TRANSIENT = frozenset(
    {
        "ProvisionedThroughputExceededException",
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
    if not isinstance(exc, ClientError):
        return classify_botocore(exc, service="DynamoDB", subject=f"table {table or '?'}")
    info = client_error_info(exc)
    message = f"DynamoDB {exc.operation_name} failed: {info.code}: {info.message}"
    if info.code == "ResourceNotFoundException":
        return ConfigError(
            f"DynamoDB table {table or '?'} does not exist",
            hint="create it (partition key 'ns', sort key 'k', both strings) or add ?create=true",
        )
    if info.code in _DENIED:
        return TerminalError(message, hint="check the credentials and IAM permissions")
    return classify_botocore(
        exc,
        service="DynamoDB",
        subject=f"table {table or '?'}",
        text=message,
        conflict=_CONFLICT,
        invalid=frozenset({"ValidationException"}),
        transient=_TRANSIENT,
    )

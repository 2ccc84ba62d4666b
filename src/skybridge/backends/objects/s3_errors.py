"""Translation of botocore errors into the skybridge error tree for the ``s3://`` store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
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

_NOT_FOUND = {"NoSuchKey", "NotFound", "404", "NoSuchBucket", "NoSuchUpload"}
_TRANSIENT = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestLimitExceeded",
    "TooManyRequests",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeTooSkewed",
}
_CONFLICT = {"PreconditionFailed", "OperationAborted", "ConditionalRequestConflict"}
_INVALID = {"InvalidArgument", "KeyTooLongError", "MetadataTooLarge", "InvalidObjectName"}


def error_code(exc: ClientError) -> str:
    """The S3 error code (``NoSuchKey``), or the HTTP status as text when there is none."""
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(error.get("Code") or status or "Unknown")


def translate_client_error(exc: ClientError, key: str) -> SkybridgeError:
    """The skybridge error for an S3 ``ClientError`` raised while working on ``key``."""
    code = error_code(exc)
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    text = f"S3 {code} on {key!r}"
    if code == "NoSuchBucket":
        return NotFound(f"{text}: the bucket does not exist", hint="add ?create=true to the URL")
    if code in _NOT_FOUND or status == 404:
        return NotFound(f"object {key!r} does not exist ({code})")
    if code in _TRANSIENT or status == 429 or status >= 500:
        retry_after = (
            exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
        )
        return TransientError(text, retry_after=float(retry_after) if retry_after else None)
    if code in _CONFLICT or status in (409, 412):
        return Conflict(text)
    if code in _INVALID:
        return ValidationError(text)
    return TerminalError(text)  # AccessDenied, EntityTooLarge, signature and other 4xx


@contextmanager
def s3_errors(key: str, *, ignore: frozenset[str] = frozenset()) -> Iterator[None]:
    """Raise skybridge errors instead of botocore ones; swallow error codes in ``ignore``."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in ignore:
            return
        raise translate_client_error(exc, key) from exc
    except (ConnectionError, ReadTimeoutError, ResponseStreamingError) as exc:
        raise TransientError(f"S3 unreachable or slow on {key!r}: {type(exc).__name__}") from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise ConfigError(f"no usable AWS credentials: {exc}") from exc
    except ParamValidationError as exc:
        raise ValidationError(f"S3 rejected the request for {key!r}: {exc}") from exc
    except BotoCoreError as exc:
        raise TerminalError(f"S3 client error on {key!r}: {type(exc).__name__}") from exc

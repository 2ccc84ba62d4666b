"""Translation of botocore errors into the skybridge error tree for the ``s3://`` store.

The classification every AWS service shares is :mod:`skybridge.backends.cloud.aws`; this module
adds S3's own codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import classify_botocore, client_error_info
from skybridge.core.errors import NotFound, SkybridgeError

_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404", "NoSuchBucket", "NoSuchUpload"})
_TRANSIENT = frozenset({"SlowDown", "RequestTimeout", "RequestTimeTooSkewed"})
_CONFLICT = frozenset({"PreconditionFailed", "OperationAborted", "ConditionalRequestConflict"})
_INVALID = frozenset(
    {"InvalidArgument", "KeyTooLongError", "MetadataTooLarge", "InvalidObjectName"}
)
_SETTING = "backends.objects"


def error_code(exc: ClientError) -> str:
    """The S3 error code (``NoSuchKey``), or the HTTP status as text when there is none."""
    info = client_error_info(exc)
    return info.code or str(info.status or "Unknown")


def translate_client_error(exc: ClientError, key: str) -> SkybridgeError:
    """The skybridge error for an S3 ``ClientError`` raised while working on ``key``."""
    code = error_code(exc)
    text = f"S3 {code} on {key!r}"
    if code == "NoSuchBucket":
        return NotFound(f"{text}: the bucket does not exist", hint="add ?create=true to the URL")
    error = classify_botocore(
        exc,
        service="S3",
        subject=repr(key),
        text=text,
        not_found=_NOT_FOUND,
        conflict=_CONFLICT,
        invalid=_INVALID,
        transient=_TRANSIENT,
    )
    if isinstance(error, NotFound):
        return NotFound(f"object {key!r} does not exist ({code})")
    return error  # AccessDenied, EntityTooLarge, signature and other 4xx are TerminalError


@contextmanager
def s3_errors(key: str, *, ignore: frozenset[str] = frozenset()) -> Iterator[None]:
    """Raise skybridge errors instead of botocore ones; swallow error codes in ``ignore``."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in ignore:
            return
        raise translate_client_error(exc, key) from exc
    except BotoCoreError as exc:
        raise classify_botocore(exc, service="S3", subject=repr(key), setting=_SETTING) from exc

"""Validation of object keys and user metadata, shared by every object store.

Keys are restricted to what every backend (a local folder included) can hold the same way, so an
app that works on ``file://`` works on S3 and OCI unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from skybridge.core.errors import ValidationError

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 2048
_FORBIDDEN_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")
_METADATA_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_METADATA_VALUE = re.compile(r"^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$")


def validate_key(key: str, *, allow_trailing_slash: bool = False, what: str = "key") -> str:
    """Return ``key`` when it is a valid object key, else raise ValidationError saying why.

    A key is a non-empty ``/``-separated path of at most 1024 UTF-8 bytes with no leading ``/``,
    no empty, ``.`` or ``..`` segment, no backslash and no control character. With
    ``allow_trailing_slash`` (prefixes), the text after the last ``/`` may be any partial segment.
    """
    if not isinstance(key, str) or not key:
        raise ValidationError(f"object {what} must be a non-empty string, got {key!r}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(
            f"object {what} {key!r} is not valid Unicode text (lone surrogate)"
        ) from None
    if size > MAX_KEY_BYTES:
        raise ValidationError(f"object {what} is {size} bytes long; use at most {MAX_KEY_BYTES}")
    if key.startswith("/"):
        raise ValidationError(f"object {what} {key!r} starts with '/'; remove the leading slash")
    if bad := _FORBIDDEN_CHARS.search(key):
        raise ValidationError(
            f"object {what} {key!r} contains {bad.group()!r}; use no control characters or '\\'"
        )
    segments = key.split("/")
    complete = segments[:-1] if allow_trailing_slash else segments
    for segment in complete:
        if segment in ("", ".", ".."):
            raise ValidationError(
                f"object {what} {key!r} has an empty, '.' or '..' path segment; "
                "write each segment between slashes as a name"
            )
    return key


def validate_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Return ``metadata`` as a plain dict when every S3 and OCI backend can store it as is.

    Names: lowercase ASCII letters, digits and ``-`` (HTTP headers lose case and underscores).
    Values: printable ASCII without surrounding spaces (encode other text, e.g. base64 or %-codes).
    Names and values together take at most 2048 bytes (the S3 limit).
    """
    total = 0
    for name, value in metadata.items():
        if not isinstance(name, str) or not _METADATA_NAME.match(name):
            raise ValidationError(
                f"metadata name {name!r} is not allowed; use 1-64 lowercase letters, digits "
                "or '-', starting with a letter or digit"
            )
        if not isinstance(value, str) or not _METADATA_VALUE.match(value):
            raise ValidationError(
                f"metadata value for {name!r} must be printable ASCII text without leading or "
                "trailing spaces; percent-encode or base64 other values"
            )
        total += len(name) + len(value)
    if total > MAX_METADATA_BYTES:
        raise ValidationError(
            f"metadata takes {total} bytes; keep names and values under {MAX_METADATA_BYTES}"
        )
    return dict(metadata)

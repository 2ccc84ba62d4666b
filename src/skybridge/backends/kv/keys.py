"""Rules every key-value backend shares: key, namespace, value and TTL validation, key order."""

from __future__ import annotations

import math
import re

from skybridge.core.errors import ConfigError, ValidationError

#: Longest key in UTF-8 bytes (DynamoDB's sort-key limit, applied everywhere for portability).
MAX_KEY_BYTES = 1024

#: Namespaces become part of storage names (Redis keys, DynamoDB partition keys): keep them plain.
NAMESPACE_PATTERN = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
DEFAULT_NAMESPACE = "default"

_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def check_key(key: object, *, what: str = "key") -> str:
    """Return ``key`` if it is a usable key, else raise :class:`ValidationError` saying why."""
    if not isinstance(key, str):
        raise ValidationError(f"{what} must be a str, got {type(key).__name__}")
    if not key:
        raise ValidationError(f"{what} is empty", hint="use a non-empty string")
    return check_prefix(key, what=what)


def check_prefix(prefix: object, *, what: str = "prefix") -> str:
    """Like :func:`check_key` but the empty string is allowed (it matches every key)."""
    if not isinstance(prefix, str):
        raise ValidationError(f"{what} must be a str, got {type(prefix).__name__}")
    if "\x00" in prefix:
        raise ValidationError(f"{what} {prefix!r} contains a NUL character", hint="remove it")
    try:
        size = len(prefix.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(
            f"{what} {prefix!r} is not valid Unicode (it holds a lone surrogate)",
            hint="encode keys as proper UTF-8 text",
        ) from None
    if size > MAX_KEY_BYTES:
        raise ValidationError(
            f"{what} is {size} bytes in UTF-8; the limit is {MAX_KEY_BYTES}",
            hint="shorten it or hash the long part",
        )
    return prefix


def check_namespace(namespace: object) -> str:
    """Return ``namespace`` if it matches ``[A-Za-z0-9_.-]{1,64}``, else raise ``ConfigError``."""
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.fullmatch(namespace):
        raise ConfigError(
            f"kv namespace {namespace!r} is not allowed",
            hint="use 1-64 letters, digits, '_', '.' or '-'",
        )
    return namespace


def check_value(value: object, max_size: int) -> bytes:
    """Return ``value`` as bytes, refusing text and values over ``max_size`` bytes."""
    if isinstance(value, str):
        raise ValidationError(
            "kv values are bytes, got str", hint="encode it (value.encode()) or use put_json"
        )
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValidationError(f"kv values are bytes, got {type(value).__name__}")
    data = bytes(value)
    if len(data) > max_size:
        raise ValidationError(
            f"value is {len(data)} bytes; this backend stores at most {max_size}",
            hint="store large payloads in an object store and keep a reference here",
        )
    return data


def check_ttl(ttl: object) -> float | None:
    """Return ``ttl`` in seconds (``None``: never expires); it must be a positive finite number."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float):
        raise ValidationError(f"ttl must be a number of seconds, got {type(ttl).__name__}")
    if not math.isfinite(ttl) or ttl <= 0:
        raise ValidationError(
            f"ttl must be a positive number of seconds, got {ttl!r}",
            hint="pass ttl=None for a key that never expires, or delete() it",
        )
    return float(ttl)


def check_version(version: object, *, minimum: int) -> int:
    """Return ``version`` if it is an int >= ``minimum``."""
    if isinstance(version, bool) or not isinstance(version, int) or version < minimum:
        raise ValidationError(
            f"expected_version must be an int >= {minimum}, got {version!r}",
            hint="0 means 'the key must not exist'; otherwise pass the version you read",
        )
    return version


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with ``prefix``.

    Keys sort by Unicode code point (the same order as their UTF-8 bytes), so this is ``prefix``
    with its last character incremented, skipping the surrogate range. ``None`` means no bound
    (empty prefix, or one made only of U+10FFFF).
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code in _SURROGATES:
            code = _SURROGATES.stop
        if code <= _MAX_CODE_POINT:
            return "".join(chars) + chr(code)
    return None

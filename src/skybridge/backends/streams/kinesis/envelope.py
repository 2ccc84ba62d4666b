"""Kinesis records have no headers and always a partition key; skybridge fills the gaps.

* Headers travel in an envelope, only when a message has some (or its value starts with
  ``MAGIC``, so that it cannot be taken for one): ``MAGIC`` + u32 length of the encoded
  headers + headers + value. Other consumers see the envelope bytes.
* A keyless message gets a random partition key with a reserved prefix, read back as ``None``.
* Keys must be UTF-8 text of 1..256 characters (Kinesis partition keys are strings).
"""

from __future__ import annotations

import struct
import uuid

from skybridge.backends.streams.records import Headers, decode_headers, encode_headers
from skybridge.core.errors import ValidationError

MAGIC = b"\x00SKBH1"
NO_KEY_PREFIX = "__skybridge_nokey__:"
_LEN = struct.Struct(">I")


def wrap(value: bytes, headers: Headers) -> bytes:
    if not headers and not value.startswith(MAGIC):
        return value
    blob = encode_headers(headers)
    return MAGIC + _LEN.pack(len(blob)) + blob + value


def unwrap(data: bytes) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of a record's data: the data as it is, without headers, when it
    is not an envelope or not a sound one (another producer's bytes that start like one), so
    a record is always delivered and never stops its shard."""
    if not data.startswith(MAGIC):
        return data, []
    start = len(MAGIC) + _LEN.size
    try:
        (length,) = _LEN.unpack_from(data, len(MAGIC))
        if start + length > len(data):
            return data, []
        return data[start + length :], decode_headers(data[start : start + length])
    except (struct.error, UnicodeDecodeError):
        return data, []


def partition_key(key: bytes | None) -> str:
    if key is None:
        return NO_KEY_PREFIX + uuid.uuid4().hex
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("kinesis partition keys must be UTF-8 text") from None
    if not 1 <= len(text) <= 256 or text.startswith(NO_KEY_PREFIX):
        raise ValidationError("kinesis partition keys are 1 to 256 characters")
    return text


def record_key(partition_key: str) -> bytes | None:
    return None if partition_key.startswith(NO_KEY_PREFIX) else partition_key.encode()

"""JSON for hot paths: orjson's speed with the standard library's meaning.

Stream records, state documents and kv sink items are decoded and encoded once per record or
per key and batch, where ``json`` costs microseconds a document. :func:`loads` and
:func:`dumps` use orjson and fall back to ``json`` where the two would differ, so callers
see what ``json.loads`` / ``json.dumps`` give (values and errors, not always the same bytes:
orjson writes ``1e-7`` where ``json`` writes ``1e-07``), only faster, with these differences:

* ``loads``: documents orjson refuses (``NaN``/``Infinity``, UTF-16, malformed input) go to
  ``json.loads``, which reads them or raises its usual error. **Integers outside the 64-bit
  range are read as floats** (as orjson, JavaScript and most JSON readers do; finding them in
  the raw bytes would cost more than the decoding saves): use ``json.loads`` where they must
  stay exact;
* ``dumps``: compact separators, UTF-8 (no ``\\uXXXX`` escapes); values orjson refuses
  (non-string keys, integers beyond 64 bits, datetimes, dataclasses) go to ``json``, which
  converts them as it always did or raises ``TypeError``; a document holding ``null`` is
  encoded by ``json`` as well, since orjson writes non-finite floats as ``null`` where
  ``json`` keeps ``NaN``. Unlike ``json``, enums are written as their value and UUIDs as
  their text, on both paths (so they come back as plain values when read).
"""

from __future__ import annotations

import json
import uuid
from enum import Enum
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _plain(value: Any) -> Any:
    """What orjson writes for the types it knows and ``json`` does not."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_STDLIB_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_plain).encode
_orjson_loads = orjson.loads
_orjson_dumps = orjson.dumps
_DecodeError = orjson.JSONDecodeError


def loads(raw: bytes | str) -> Any:
    """``json.loads(raw)``, except that integers beyond 64 bits come back as floats."""
    try:
        return _orjson_loads(raw)
    except _DecodeError:
        return json.loads(raw)


def dumps(value: Any) -> bytes:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()``."""
    try:
        raw = _orjson_dumps(value, option=_OPTIONS)
    except TypeError:
        return _STDLIB_ENCODE(value).encode()
    if b"null" in raw:  # None, or a NaN/Infinity that json writes as such
        return _STDLIB_ENCODE(value).encode()
    return raw

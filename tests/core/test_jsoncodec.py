"""skybridge.core.jsoncodec reads and writes what the standard library's json does."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.core import jsoncodec

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=8) | st.integers(-5, 5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(documents)
def test_dumps_means_what_json_dumps_means(value: Any) -> None:
    ours = jsoncodec.dumps(value)
    stdlib = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    assert _same(json.loads(ours), json.loads(stdlib))


int64 = st.integers(min_value=-(2**63), max_value=2**64 - 1)
readable = st.recursive(
    st.none() | st.booleans() | int64 | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(readable)
def test_loads_reads_what_json_reads(value: Any) -> None:
    for raw in (json.dumps(value), json.dumps(value, indent=1, ensure_ascii=True)):
        assert _same(jsoncodec.loads(raw.encode()), json.loads(raw))
        assert _same(jsoncodec.loads(raw), json.loads(raw))


def test_loads_keeps_json_errors_and_encodings() -> None:
    for bad in (b'{"a": ', b"", b"[1,]", b"\xff"):
        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as ours:
            jsoncodec.loads(bad)
        with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)) as theirs:
            json.loads(bad)
        assert type(ours.value) is type(theirs.value)
        assert str(ours.value) == str(theirs.value)
    assert jsoncodec.loads('{"a": "é"}'.encode("utf-16")) == {"a": "é"}


def test_loads_reads_integers_beyond_64_bits_as_floats() -> None:
    assert jsoncodec.loads(b"[18446744073709551615, -9223372036854775808]") == [2**64 - 1, -(2**63)]
    assert jsoncodec.loads(b"[18446744073709551616]") == [float(2**64)]
    assert jsoncodec.loads(b"[NaN]")[0] != jsoncodec.loads(b"[NaN]")[0]  # json's reading


def test_nan_and_big_integers_round_trip_like_json() -> None:
    value = {"nan": math.nan, "inf": math.inf, "big": 2**80, "n": None, 3: "int key"}
    back = json.loads(jsoncodec.dumps(value))
    assert math.isnan(back["nan"])
    assert back["inf"] == math.inf
    assert back["big"] == 2**80
    assert back["n"] is None
    assert back["3"] == "int key"


@dataclass
class _Point:
    x: int


@pytest.mark.parametrize("value", [dt.datetime(2026, 1, 1), _Point(1), object(), {1j: 1}])
def test_dumps_refuses_what_json_refuses(value: Any) -> None:
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        jsoncodec.dumps(value)


def test_dumps_is_compact_utf8() -> None:
    assert jsoncodec.dumps({"a": [1, "é"]}) == '{"a":[1,"é"]}'.encode()


class _Status(Enum):
    OPEN = "open"


def test_enums_and_uuids_encode_the_same_with_or_without_a_null() -> None:
    ident = uuid.UUID(int=7)
    for extra in ({}, {"closed": None}, {"note": "nullable"}, {1: "int key"}):
        doc = {"s": _Status.OPEN, "id": ident, **extra}
        back = json.loads(jsoncodec.dumps(doc))
        assert back["s"] == "open"
        assert back["id"] == str(ident)

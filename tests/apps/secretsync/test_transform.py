"""Payload building: JSON fields, renames, raw fields, binary handling; errors never hold values."""

from __future__ import annotations

import base64
import json

import pytest

from skybridge.apps.secretsync import PoisonPayload, SecretMapping
from skybridge.apps.secretsync.transform import build_payload, check_size
from skybridge.core.secret import Secret

SOURCE = json.dumps(
    {"username": "app", "password": "S3CRET-CANARY-1", "db": {"host": "h", "port": 5432}}
)


def _mapping(**extra: object) -> SecretMapping:
    return SecretMapping.model_validate(
        {
            "name": "m",
            "source": {"backend": "s", "secret": "a"},
            "target": {"backend": "t", "secret": "b"},
            **extra,
        }
    )


def test_whole_value_passes_through_with_type() -> None:
    assert build_payload(_mapping(), Secret(SOURCE)).reveal() == SOURCE
    assert build_payload(_mapping(), Secret(b"\x00\x01")).reveal() == b"\x00\x01"


def test_fields_select_nested_paths_and_rename() -> None:
    m = _mapping(fields=["password", "db.port"], rename={"password": "db_password"})
    assert json.loads(build_payload(m, Secret(SOURCE)).reveal()) == {
        "db_password": "S3CRET-CANARY-1",
        "db.port": 5432,
    }


def test_rename_on_whole_json_value() -> None:
    m = _mapping(rename={"username": "user"})
    out = json.loads(build_payload(m, Secret(SOURCE)).reveal())
    assert set(out) == {"user", "password", "db"}


def test_raw_field_gives_the_bare_value() -> None:
    assert (
        build_payload(_mapping(fields=["password"], field_format="raw"), Secret(SOURCE)).reveal()
        == "S3CRET-CANARY-1"
    )
    assert (
        build_payload(_mapping(fields=["db"], field_format="raw"), Secret(SOURCE)).reveal()
        == '{"host":"h","port":5432}'
    )


def test_binary_policies() -> None:
    raw = bytes(range(10))
    assert (
        build_payload(_mapping(binary="base64"), Secret(raw)).reveal()
        == base64.b64encode(raw).decode()
    )
    with pytest.raises(PoisonPayload, match="binary = 'reject'"):
        build_payload(_mapping(binary="reject"), Secret(raw))
    with pytest.raises(PoisonPayload, match="binary"):
        build_payload(_mapping(fields=["a"]), Secret(raw))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("S3CRET-CANARY-2 not json", "not JSON"),
        ('["S3CRET-CANARY-3"]', "is a list, not an object"),
        ('{"other": "S3CRET-CANARY-4"}', "field 'password' is missing"),
    ],
)
def test_poison_messages_never_contain_the_value(value: str, message: str) -> None:
    with pytest.raises(PoisonPayload, match=message) as caught:
        build_payload(_mapping(fields=["password"]), Secret(value))
    assert "CANARY" not in str(caught.value)


def test_size_precheck() -> None:
    check_size(_mapping(), Secret("x" * 10), 10, "oci-vault://")
    with pytest.raises(PoisonPayload, match="11 bytes; oci-vault:// accepts at most 10"):
        check_size(_mapping(), Secret("x" * 11), 10, "oci-vault://")

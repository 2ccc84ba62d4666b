"""OCI credentials, clients and error classification shared by oci://, oci-vault://, oci-ons://."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import oci
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from skybridge.backends.cloud.oci import (
    AUTH_HINT,
    build_oci_client,
    resolve_oci_credentials,
    translate_client_side_error,
    translate_service_error,
)
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotAuthenticated,
    NotFound,
    TerminalError,
    TransientError,
)

SETTING = "backends.test"


@pytest.fixture(scope="module")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def config(private_key: str) -> dict[str, Any]:
    return {
        "user": "ocid1.user.oc1..aaaa",
        "tenancy": "ocid1.tenancy.oc1..aaaa",
        "fingerprint": ":".join(["ab"] * 16),
        "key_content": private_key,
        "region": "us-ashburn-1",
    }


def test_config_dict_wins_and_region_overrides_without_mutating(config: dict[str, Any]) -> None:
    params = {"auth": "instance_principal", "region": "eu-frankfurt-1", "profile": "NOPE"}
    credentials = resolve_oci_credentials(params, config, setting=SETTING)
    assert credentials.signer is None
    assert credentials.region == "eu-frankfurt-1"
    assert config["region"] == "us-ashburn-1"
    assert "PRIVATE KEY" not in repr(credentials)


@pytest.mark.parametrize("auth", ["", "api_key", "config"])
def test_api_key_aliases(auth: str, config: dict[str, Any]) -> None:
    credentials = resolve_oci_credentials({"auth": auth}, config, setting=SETTING)
    assert credentials.config["user"] == config["user"]


def test_unknown_auth_names_the_setting(config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="auth must be one of") as caught:
        resolve_oci_credentials({"auth": "password"}, config, setting=SETTING)
    assert caught.value.setting == SETTING


def test_missing_principal_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    with pytest.raises(ConfigError, match="resource principal") as caught:
        resolve_oci_credentials({"auth": "resource_principal"}, setting=SETTING)
    assert caught.value.setting == SETTING
    assert caught.value.hint
    assert "API key" in caught.value.hint


def test_config_file_and_profile(tmp_path: Path, config: dict[str, Any]) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(config["key_content"])
    lines = [f"{k}={v}" for k, v in config.items() if k != "key_content"]
    (tmp_path / "config").write_text("\n".join(["[EMU]", *lines, f"key_file={key_file}", ""]))
    params = {"config_file": str(tmp_path / "config"), "profile": "EMU"}
    credentials = resolve_oci_credentials(params, setting=SETTING)
    assert credentials.config["fingerprint"] == config["fingerprint"]
    assert credentials.region == "us-ashburn-1"


def test_missing_config_file_says_which_profile_and_path(tmp_path: Path) -> None:
    path = tmp_path / "missing"
    params = {"config_file": str(path), "profile": "NOPE"}
    with pytest.raises(ConfigError, match="profile 'NOPE'") as caught:
        resolve_oci_credentials(params, setting=SETTING)
    assert str(path) in str(caught.value)
    assert caught.value.setting == SETTING


def test_invalid_config_names_keys_but_never_the_key(config: dict[str, Any]) -> None:
    del config["fingerprint"]
    config["user"] = "not-an-ocid"
    with pytest.raises(ConfigError, match="fingerprint missing") as caught:
        resolve_oci_credentials({}, config, setting=SETTING)
    assert "user malformed" in str(caught.value)
    assert "PRIVATE KEY" not in str(caught.value)
    assert "not-an-ocid" not in str(caught.value)


def test_client_gets_endpoint_timeout_and_retry_strategy(config: dict[str, Any]) -> None:
    credentials = resolve_oci_credentials({}, config, setting=SETTING)
    client = build_oci_client(
        oci.ons.NotificationDataPlaneClient,
        credentials,
        setting=SETTING,
        endpoint="http://127.0.0.1:1",
        timeout=(1.5, 2.5),
    )
    assert client.base_client.endpoint.startswith("http://127.0.0.1:1/")
    assert client.base_client.timeout == (1.5, 2.5)
    assert isinstance(client.retry_strategy, oci.retry.NoneRetryStrategy)
    retrying = build_oci_client(
        oci.ons.NotificationDataPlaneClient, credentials, setting=SETTING, retries=3
    )
    assert not isinstance(retrying.retry_strategy, oci.retry.NoneRetryStrategy)


def test_unusable_key_is_a_config_error_without_the_key(config: dict[str, Any]) -> None:
    broken = {**config, "key_content": "-----BEGIN RSA PRIVATE KEY-----\nnope\n"}
    credentials = resolve_oci_credentials({}, broken, setting=SETTING)
    with pytest.raises(ConfigError, match="OCI client configuration is invalid") as caught:
        build_oci_client(oci.ons.NotificationDataPlaneClient, credentials, setting=SETTING)
    assert "nope" not in str(caught.value)
    assert caught.value.setting == SETTING


def service_error(status: int, code: str = "Code", headers: Any = None) -> Any:
    return oci.exceptions.ServiceError(status, code, headers or {}, "the message")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (429, "TooManyRequests", TransientError),
        (500, "InternalServerError", TransientError),
        (503, "ServiceUnavailable", TransientError),
        (-1, "Timeout", TransientError),
        (400, "Busy", TransientError),
        (401, "NotAuthenticated", NotAuthenticated),
        (404, "NotAuthorizedOrNotFound", NotFound),
        (409, "IncorrectState", TransientError),
        (409, "LockConflict", TransientError),
        (409, "Conflict", Conflict),
        (412, "NoEtagMatch", Conflict),
        (400, "InvalidParameter", TerminalError),
        (403, "Forbidden", TerminalError),
    ],
)
def test_service_errors_are_classified(status: int, code: str, expected: type[Exception]) -> None:
    error = translate_service_error(
        service_error(status, code), "text", transient_codes=frozenset({"Busy"})
    )
    assert type(error) is expected


def test_service_error_details() -> None:
    throttled = translate_service_error(service_error(429, headers={"retry-after": "3"}), "t")
    assert isinstance(throttled, TransientError)
    assert throttled.retry_after == 3.0
    dated = translate_service_error(service_error(503, headers={"retry-after": "Wed, 21"}), "t")
    assert isinstance(dated, TransientError)
    assert dated.retry_after is None
    assert translate_service_error(service_error(401), "t").hint == AUTH_HINT
    assert str(translate_service_error(service_error(404), "t", not_found="no such")) == "no such"
    assert str(translate_service_error(service_error(404), "t")) == "t"


def test_client_side_errors() -> None:
    def translate(exc: BaseException) -> Any:
        return translate_client_side_error(exc, unreachable="svc unreachable", setting=SETTING)

    for exc in (oci.exceptions.RequestException(), oci.exceptions.ConnectTimeout()):
        error = translate(exc)
        assert isinstance(error, TransientError)
        assert str(error) == f"svc unreachable: {type(exc).__name__}"
    config_error = translate(oci.exceptions.InvalidConfig({"user": "missing"}))
    assert isinstance(config_error, ConfigError)
    assert config_error.setting == SETTING
    assert "user missing" in str(config_error)
    assert translate(RuntimeError("other")) is None

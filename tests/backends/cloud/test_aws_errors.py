"""The botocore classification shared by s3://, aws-sm://, dynamodb:// and sns://."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from skybridge.backends.cloud.aws import boto3_client, classify_botocore, client_error_info
from skybridge.core.errors import (
    ConfigError,
    Conflict,
    NotFound,
    TerminalError,
    TransientError,
    ValidationError,
)
from skybridge.core.secret import Secret


def client_error(
    code: str | None, status: int | None = 400, message: str = "m", headers: Any = None
) -> ClientError:
    response: Any = {"Error": {"Message": message}, "ResponseMetadata": {}}
    if code is not None:
        response["Error"]["Code"] = code
    if status is not None:
        response["ResponseMetadata"]["HTTPStatusCode"] = status
    if headers is not None:
        response["ResponseMetadata"]["HTTPHeaders"] = headers
    return ClientError(response, "DoThing")


def test_info_reads_code_status_message_and_retry_after() -> None:
    info = client_error_info(client_error("SlowDown", 503, "slow", {"retry-after": "7"}))
    assert (info.code, info.status, info.message, info.retry_after) == (
        "SlowDown",
        503,
        "slow",
        7.0,
    )
    assert info.transient


def test_info_tolerates_missing_fields_and_date_retry_after() -> None:
    info = client_error_info(client_error(None, None, headers={"retry-after": "Wed, 21 Oct"}))
    assert (info.code, info.status, info.retry_after) == ("", 0, None)
    assert not info.transient


def test_info_message_is_scrubbed() -> None:
    leaked = Secret("hunter2-very-secret")
    info = client_error_info(client_error("X", 400, f"bad value {leaked.reveal()}"))
    assert leaked.reveal() not in info.message
    assert "***" in info.message


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("ThrottlingException", 400, TransientError),
        ("TooManyRequestsException", 400, TransientError),
        ("Anything", 429, TransientError),
        ("Anything", 500, TransientError),
        ("Anything", 503, TransientError),
        ("Special", 400, TransientError),
        ("Gone", 400, NotFound),
        ("Anything", 404, NotFound),
        ("Clash", 400, Conflict),
        ("Anything", 409, Conflict),
        ("Anything", 412, Conflict),
        ("Bad", 400, ValidationError),
        ("AccessDenied", 403, TerminalError),
        ("Anything", 400, TerminalError),
    ],
)
def test_client_errors_are_classified(code: str, status: int, expected: type[Exception]) -> None:
    error = classify_botocore(
        client_error(code, status),
        service="Svc",
        subject="thing",
        not_found=frozenset({"Gone"}),
        conflict=frozenset({"Clash"}),
        invalid=frozenset({"Bad"}),
        transient=frozenset({"Special"}),
    )
    assert type(error) is expected
    assert code in str(error)
    assert "Svc" in str(error)
    assert "thing" in str(error)


def test_transient_client_error_keeps_retry_after_and_custom_text() -> None:
    exc = client_error("Throttling", 400, headers={"retry-after": "2.5"})
    error = classify_botocore(exc, service="Svc", subject="x", text="custom text")
    assert isinstance(error, TransientError)
    assert error.retry_after == 2.5
    assert str(error) == "custom text"


def test_status_stands_in_for_a_missing_code() -> None:
    error = classify_botocore(client_error(None, 404), service="S3", subject="'k'")
    assert isinstance(error, NotFound)
    assert "404" in str(error)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), TransientError),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:9"), TransientError),
        (NoCredentialsError(), ConfigError),
        (PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"), ConfigError),
        (NoRegionError(), ConfigError),
        (ProfileNotFound(profile="nope"), ConfigError),
        (ParamValidationError(report="Key is too long"), ValidationError),
        (BotoCoreError(), TerminalError),
    ],
)
def test_client_side_errors_are_classified(exc: BotoCoreError, expected: type[Exception]) -> None:
    error = classify_botocore(exc, service="Svc", subject="x", setting="backends.kv")
    assert type(error) is expected
    assert type(exc).__name__ in str(error)
    if isinstance(error, ConfigError):
        assert error.setting == "backends.kv"
        assert error.hint
        assert "region" in error.hint


def test_client_side_message_is_scrubbed() -> None:
    leaked = Secret("s3cr3t-in-a-report")
    error = classify_botocore(
        ParamValidationError(report=f"value {leaked.reveal()}"), service="Svc", subject="x"
    )
    assert leaked.reveal() not in str(error)


def test_boto3_client_takes_region_endpoint_and_config() -> None:
    from botocore.config import Config

    client = boto3_client(
        "sqs",
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:1",
        config=Config(connect_timeout=3),
    )
    assert client.meta.region_name == "eu-west-1"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"
    assert client.meta.config.connect_timeout == 3
    client.close()


def test_boto3_client_empty_strings_count_as_not_given() -> None:
    client = boto3_client("s3", region="", endpoint_url="", profile="")
    assert client.meta.endpoint_url.startswith("https://")
    client.close()


def test_boto3_client_setup_problems_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="ProfileNotFound") as caught:
        boto3_client("s3", profile="nope", setting="backends.objects")
    assert caught.value.setting == "backends.objects"
    with pytest.raises(ConfigError, match="NoRegionError"):
        boto3_client("dynamodb")

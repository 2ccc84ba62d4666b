"""aws-lambda://: Lambda and CloudWatch on the moto server pass the contract."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from skybridge.backends import functions
from skybridge.backends.functions import FunctionPlatform
from skybridge.core.errors import ConfigError, ValidationError
from skybridge.testing.contracts.functions import (
    AlarmFactory,
    FunctionPlatformContract,
    tiny_zip,
)
from skybridge.testing.lambdas import moto_lambda_url
from skybridge.testing.servers import RunningServer

pytestmark = pytest.mark.moto


@pytest.fixture
def platform(moto_server: RunningServer) -> FunctionPlatform:
    return functions.connect(moto_lambda_url(moto_server))


@pytest.fixture
def alarm(moto_server: RunningServer) -> AlarmFactory:
    cloudwatch: Any = boto3.client(
        "cloudwatch", region_name="us-east-1", endpoint_url=moto_server.url
    )

    def make() -> str:
        name = f"errors-{uuid.uuid4().hex[:8]}"
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="test")
        return name

    return make


class TestLambdaContract(FunctionPlatformContract):
    pass


def test_big_zip_without_bucket_names_the_fix(platform: FunctionPlatform) -> None:
    with pytest.raises(ValidationError, match="50 MB") as caught:
        platform.publish_layer_version("big", b"x" * (50 * 1024 * 1024 + 1))
    assert "bucket" in (caught.value.hint or "")


def test_region_is_required() -> None:
    with pytest.raises(ConfigError, match="region"):
        functions.connect("aws-lambda://")


def test_big_zip_goes_through_s3(moto_server: RunningServer) -> None:
    s3: Any = boto3.client("s3", region_name="us-east-1", endpoint_url=moto_server.url)
    bucket = f"layers-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    url = f"aws-lambda://us-east-1?endpoint_url={moto_server.url}&bucket={bucket}"
    with functions.connect(url) as platform:
        big = tiny_zip("x = '" + "a" * 10 + "'\n") + b"\0" * (50 * 1024 * 1024)
        layer = platform.publish_layer_version(f"big-{uuid.uuid4().hex[:6]}", big)
    assert layer.version == 1
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1

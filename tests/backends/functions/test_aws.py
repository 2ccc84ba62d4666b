"""aws-lambda://: Lambda and CloudWatch on the moto server pass the contract, and the backend
waits for Lambda's asynchronous configuration updates (played on moto by :class:`AsyncUpdates`)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from skybridge.backends import functions
from skybridge.backends.functions import FunctionPlatform
from skybridge.backends.functions.aws import UpdateInProgress
from skybridge.core.errors import ConfigError, TerminalError, TransientError, ValidationError
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


class AsyncUpdates:
    """Lambda's asynchronous configuration updates, played on moto (which applies them at once).

    After ``UpdateFunctionConfiguration`` the function reads ``LastUpdateStatus: InProgress``
    for the next ``reads`` reads of its configuration, then ``outcome``; meanwhile Lambda
    refuses ``PublishVersion`` and another update with ``ResourceConflictException``.
    """

    def __init__(self, client: Any, *, reads: int = 2, outcome: str = "Successful") -> None:
        self.reads, self.outcome = reads, outcome
        self.left = 0
        self.refused: list[str] = []
        self.statuses: list[str] = []
        events = client.meta.events
        events.register("before-call.lambda.UpdateFunctionConfiguration", self._refuse)
        events.register("before-call.lambda.PublishVersion", self._refuse)
        events.register("after-call.lambda.UpdateFunctionConfiguration", self._started)
        events.register("after-call.lambda.GetFunctionConfiguration", self._status)

    def _refuse(self, model: Any, **_: Any) -> None:
        if self.left > 0:
            self.refused.append(model.name)
            error = {
                "Error": {
                    "Code": "ResourceConflictException",
                    "Message": "The operation cannot be performed at this time. An update is "
                    "in progress for resource: arn:aws:lambda:us-east-1:123456789012:function:fn",
                },
                "ResponseMetadata": {"HTTPStatusCode": 409},
            }
            raise ClientError(error, model.name)  # type: ignore[arg-type]

    def _started(self, parsed: dict[str, Any], **_: Any) -> None:
        self.left = self.reads
        parsed["LastUpdateStatus"] = "InProgress"

    def _status(self, parsed: dict[str, Any], **_: Any) -> None:
        if self.left > 0:
            self.left -= 1
            parsed["LastUpdateStatus"] = "InProgress"
        elif self.outcome != "Successful":
            parsed["LastUpdateStatus"] = self.outcome
            parsed["LastUpdateStatusReason"] = "The role cannot read layer deps:2"
            parsed["LastUpdateStatusReasonCode"] = "InvalidConfiguration"
        self.statuses.append(parsed["LastUpdateStatus"])


def _updating_function(moto_server: RunningServer, query: str = "", **options: Any) -> Any:
    """(platform, its Lambda client, a function on layer v1, the v2 ARN)."""
    platform: Any = functions.connect(moto_lambda_url(moto_server) + query, **options)
    layer = f"deps-{uuid.uuid4().hex[:8]}"
    v1 = platform.publish_layer_version(layer, tiny_zip("v = 1\n")).arn
    v2 = platform.publish_layer_version(layer, tiny_zip("v = 2\n")).arn
    fn = f"fn-{uuid.uuid4().hex[:8]}"
    platform.create_function(fn, runtime="python3.12", code=tiny_zip(), layers=[v1])
    return platform, platform._lambda, fn, v2


def test_publish_waits_for_an_update_in_progress(moto_server: RunningServer) -> None:
    platform, client, fn, v2 = _updating_function(moto_server, update_poll=0.01)
    lambda_ = AsyncUpdates(client, reads=3)
    client.update_function_configuration(FunctionName=fn, Layers=[v2])  # another process
    published = platform.publish_function_version(fn)
    assert published.layers == (v2,)
    assert lambda_.statuses == ["InProgress"] * 3 + ["Successful"]
    assert lambda_.refused == []


def test_set_layers_returns_once_lambda_applied_them(moto_server: RunningServer) -> None:
    platform, client, fn, v2 = _updating_function(moto_server, update_poll=0.01)
    lambda_ = AsyncUpdates(client, reads=2)
    assert platform.set_function_layers(fn, [v2]).layers == (v2,)
    assert lambda_.left == 0
    assert platform.publish_function_version(fn).layers == (v2,)
    assert lambda_.refused == []


def test_an_update_starting_between_the_wait_and_the_publish_is_waited_for(
    moto_server: RunningServer,
) -> None:
    platform, client, fn, v2 = _updating_function(moto_server, update_poll=0.01)
    lambda_ = AsyncUpdates(client, reads=2)

    def update_first(**_: Any) -> None:  # another process's update lands just before
        client.meta.events.unregister("before-call.lambda.PublishVersion", update_first)
        client.update_function_configuration(FunctionName=fn, Layers=[v2])

    client.meta.events.register_first("before-call.lambda.PublishVersion", update_first)
    assert platform.publish_function_version(fn).layers == (v2,)
    assert lambda_.refused == ["PublishVersion"]


def test_a_failed_update_is_raised_with_lambdas_reason(moto_server: RunningServer) -> None:
    platform, client, fn, v2 = _updating_function(moto_server, update_poll=0.01)
    AsyncUpdates(client, reads=1, outcome="Failed")
    with pytest.raises(TerminalError, match="InvalidConfiguration: The role cannot read"):
        platform.set_function_layers(fn, [v2])
    with pytest.raises(TerminalError, match="could not apply the last change"):
        platform.publish_function_version(fn)


def test_an_update_that_never_ends_is_transient(moto_server: RunningServer) -> None:
    platform, client, fn, v2 = _updating_function(
        moto_server, "&update_timeout=0.05", update_poll=0.01
    )
    AsyncUpdates(client, reads=10_000)
    with pytest.raises(UpdateInProgress, match="still applying a change") as caught:
        platform.set_function_layers(fn, [v2])
    assert isinstance(caught.value, TransientError)
    assert "update_timeout" in (caught.value.hint or "")

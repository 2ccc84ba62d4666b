"""Gradual rollout through a weighted alias, on moto's Lambda and the embedded platform.

moto stores alias weights but never routes by them and never evaluates alarms; the test sets
the alarm's state (``set_alarm_state``) and checks the alias the rollout leaves behind.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from skybridge.apps.layers import rollout
from skybridge.apps.layers.lifecycle import publish
from skybridge.backends import functions, kv
from skybridge.backends.functions import Alias, FunctionPlatform
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict, NotFound, ValidationError
from skybridge.testing.contracts.functions import tiny_zip
from skybridge.testing.lambdas import moto_lambda_url
from skybridge.testing.servers import RunningServer


@pytest.fixture(params=["embedded", pytest.param("moto", marks=pytest.mark.moto)])
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FunctionPlatform, str]]:
    """(platform, an alarm in state OK)."""
    alarm = f"errors-{uuid.uuid4().hex[:8]}"
    if request.param == "moto":
        server: RunningServer = request.getfixturevalue("moto_server")
        cloudwatch: Any = boto3.client(
            "cloudwatch", region_name="us-east-1", endpoint_url=server.url
        )
        cloudwatch.put_metric_alarm(
            AlarmName=alarm,
            MetricName="Errors",
            Namespace="AWS/Lambda",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
        url = moto_lambda_url(server)
    else:
        url = f"embedded://{tmp_path}/fx"
    with functions.connect(url) as platform:
        platform.set_alarm_state(alarm, "OK", "test")
        yield platform, alarm


@pytest.fixture
def store(tmp_path: Path) -> Iterator[KeyValueStore]:
    with kv.connect(f"sqlite:///{tmp_path}/kv.db") as found:
        yield found


def _function(platform: FunctionPlatform) -> tuple[str, str, str]:
    """A function on layer v1 behind alias live, and the v2 ARN: (function, v1, v2)."""
    name, fn = f"deps-{uuid.uuid4().hex[:8]}", f"fn-{uuid.uuid4().hex[:8]}"
    v1 = platform.publish_layer_version(name, tiny_zip("v = 1\n")).arn
    v2 = platform.publish_layer_version(name, tiny_zip("v = 2\n")).arn
    platform.create_function(fn, runtime="python3.12", code=tiny_zip(), layers=[v1])
    platform.put_alias(Alias(fn, "live", platform.publish_function_version(fn).version))
    return fn, v1, v2


def test_rollout_steps_then_completes(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore
) -> None:
    platform, alarm = setup
    fn, _v1, v2 = _function(platform)
    started = rollout.start(
        platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1, 0.5], alarm=alarm
    )
    alias = platform.get_alias(fn, "live")
    assert alias.version == "1"
    assert dict(alias.weights) == {started.candidate: pytest.approx(0.1)}
    assert {c.version: c.layers for c in platform.function_versions(fn)}[started.candidate] == (v2,)
    assert rollout.advance(platform, store, fn, "live").weight == 0.5
    assert dict(platform.get_alias(fn, "live").weights) == {started.candidate: pytest.approx(0.5)}
    done = rollout.advance(platform, store, fn, "live")
    assert done.status == "complete"
    assert platform.get_alias(fn, "live") == Alias(fn, "live", started.candidate, {})
    with pytest.raises(Conflict, match="complete"):
        rollout.advance(platform, store, fn, "live")


def test_alarm_rolls_back_alias_and_latest(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore
) -> None:
    platform, alarm = setup
    fn, v1, v2 = _function(platform)
    rollout.start(
        platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.2], alarm=alarm
    )
    platform.set_alarm_state(alarm, "ALARM", "errors after the new layer")
    back = rollout.advance(platform, store, fn, "live")
    assert back.status == "rolled-back"
    assert back.weight == 0.0
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    assert platform.function(fn).layers == (v1,)
    assert "ALARM" in back.history[-1]
    assert rollout.load(store, fn, "live") == back


def test_bad_rollouts_change_nothing(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore
) -> None:
    platform, _ = setup
    fn, v1, v2 = _function(platform)
    with pytest.raises(ValidationError, match="steps"):
        rollout.start(platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.5, 0.2])
    with pytest.raises(NotFound):
        rollout.start(
            platform,
            store,
            function=fn,
            alias="live",
            layer_arn=v2,
            steps=[0.1],
            alarm="no-such-alarm",
        )
    assert platform.function(fn).layers == (v1,)
    assert [c.version for c in platform.function_versions(fn)] == ["$LATEST", "1"]
    rollout.start(platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1])
    with pytest.raises(Conflict, match="already rolling"):
        rollout.start(platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1])
    with pytest.raises(NotFound):
        rollout.advance(platform, store, fn, "other")


def test_rollout_over_the_unzipped_budget_is_refused(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore
) -> None:
    platform, _ = setup
    fn, v1, _ = _function(platform)
    name = v1.split(":")[-2]
    big = publish(
        platform,
        name,
        tiny_zip("v = 3\n"),
        "d3",
        unzipped=200 * 2**20,
        runtimes=["python3.12"],
        architectures=["x86_64"],
    ).layer.arn
    with pytest.raises(ValidationError, match="250 MB"):
        rollout.start(
            platform,
            store,
            function=fn,
            alias="live",
            layer_arn=big,
            steps=[0.1],
            function_bytes=60 * 2**20,
        )
    assert platform.function(fn).layers == (v1,)
    started = rollout.start(
        platform,
        store,
        function=fn,
        alias="live",
        layer_arn=big,
        steps=[0.1],
        function_bytes=10 * 2**20,
    )
    assert started.status == "rolling"

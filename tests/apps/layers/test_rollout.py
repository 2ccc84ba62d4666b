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

from skybridge.apps.layers import api, jobs, rollout, rollout_record
from skybridge.apps.layers.lifecycle import publish
from skybridge.apps.layers.rollout_record import HISTORY_LIMIT
from skybridge.backends import functions, kv
from skybridge.backends.functions import Alias, FunctionPlatform
from skybridge.backends.functions.embedded import EmbeddedFunctions
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict, NotFound, TransientError, ValidationError
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


def _started(platform: FunctionPlatform, store: KeyValueStore, alarm: str) -> tuple[str, str, str]:
    """A function rolling out v2 at 10% of alias live (steps 0.1, 0.5): (function, v1, v2)."""
    fn, v1, v2 = _function(platform)
    rollout.start(
        platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1, 0.5], alarm=alarm
    )
    return fn, v1, v2


def _refuse(error: Exception) -> Any:
    def refuse(*_: Any, **__: Any) -> Any:
        raise error

    return refuse


IN_PROGRESS = Conflict("Lambda ResourceConflictException: An update is in progress")


def test_start_failing_part_way_puts_the_function_back_and_records_it(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, alarm = setup
    fn, v1, v2 = _function(platform)
    monkeypatch.setattr(platform, "publish_function_version", _refuse(IN_PROGRESS))
    with pytest.raises(Conflict, match="in progress"):
        rollout.start(
            platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1], alarm=alarm
        )
    assert platform.function(fn).layers == (v1,)
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    failed = rollout.load(store, fn, "live")
    assert failed is not None
    assert (failed.status, failed.settled, failed.weight) == ("rolled-back", True, 0.0)
    assert "start failed" in failed.history[-1]
    assert "in progress" in failed.history[-1]
    monkeypatch.undo()
    again = rollout.start(platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1])
    assert again.status == "rolling"


def test_a_start_that_cannot_put_the_layers_back_is_finished_by_roll_back(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, _ = setup
    fn, v1, v2 = _function(platform)
    set_layers = platform.set_function_layers
    calls: list[tuple[str, ...]] = []

    def first_call_only(function: str, layers: list[str]) -> Any:
        calls.append(tuple(layers))
        if len(calls) > 1:
            raise TransientError("Lambda throttled")
        return set_layers(function, layers)

    monkeypatch.setattr(platform, "set_function_layers", first_call_only)
    monkeypatch.setattr(platform, "put_alias", _refuse(TransientError("Lambda unreachable")))
    with pytest.raises(TransientError, match="unreachable"):
        rollout.start(platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1])
    assert platform.function(fn).layers == (v2,)
    half = rollout.load(store, fn, "live")
    assert half is not None
    assert (half.status, half.settled) == ("rolled-back", False)
    assert "roll back to retry" in half.history[-1]
    with pytest.raises(Conflict, match="not yet as recorded"):
        rollout.start(platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1])
    monkeypatch.undo()
    back = rollout.roll_back(platform, store, fn, "live")
    assert (back.status, back.settled) == ("rolled-back", True)
    assert platform.function(fn).layers == (v1,)
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})


@pytest.mark.parametrize("retry", ["advance", "roll_back"])
def test_a_rollback_whose_layer_restore_fails_is_retried_never_advanced(
    setup: tuple[FunctionPlatform, str],
    store: KeyValueStore,
    monkeypatch: pytest.MonkeyPatch,
    retry: str,
) -> None:
    platform, alarm = setup
    fn, v1, v2 = _started(platform, store, alarm)
    monkeypatch.setattr(platform, "set_function_layers", _refuse(TransientError("throttled")))
    with pytest.raises(TransientError, match="throttled"):
        rollout.roll_back(platform, store, fn, "live", "operator: bad layer")
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    assert platform.function(fn).layers == (v2,)
    half = rollout.load(store, fn, "live")
    assert half is not None
    assert half.status == "rolled-back"
    assert (half.settled, half.weight) == (False, 0.0)
    assert "restoring $LATEST's layers failed: throttled" in half.history[-1]
    monkeypatch.undo()
    # the alarm stays OK: the job's next tick must finish the rollback, not send 50%
    if retry == "advance":
        done = rollout.advance(platform, store, fn, "live")
    else:
        done = rollout.roll_back(platform, store, fn, "live")
    assert (done.status, done.settled) == ("rolled-back", True)
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    assert platform.function(fn).layers == (v1,)
    assert rollout.load(store, fn, "live") == done
    with pytest.raises(Conflict, match="already rolled-back"):
        rollout.advance(platform, store, fn, "live")


def test_a_rollback_during_the_alarm_check_wins_over_the_advance(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, alarm = setup
    fn, v1, _ = _started(platform, store, alarm)
    check_alarm = platform.alarm_state

    def rolled_back_meanwhile(name: str) -> Any:
        state = check_alarm(name)  # the advance has read the record and sees OK...
        rollout.roll_back(platform, store, fn, "live", "operator: bad layer")  # ...then this
        return state

    monkeypatch.setattr(platform, "alarm_state", rolled_back_meanwhile)
    with pytest.raises(Conflict, match="changed after it was read"):
        rollout.advance(platform, store, fn, "live")
    monkeypatch.undo()
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    assert platform.function(fn).layers == (v1,)
    after = rollout.load(store, fn, "live")
    assert after is not None
    assert (after.status, after.step, after.settled) == ("rolled-back", 0, True)
    with pytest.raises(Conflict, match="already rolled-back"):
        rollout.advance(platform, store, fn, "live")  # the next tick


def test_a_rollback_landing_while_the_advance_sets_the_alias_wins(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, alarm = setup
    fn, v1, _ = _started(platform, store, alarm)
    put_alias = platform.put_alias
    calls: list[Alias] = []

    def rollback_lands_first(alias: Alias) -> Alias:
        calls.append(alias)
        if len(calls) == 1:  # the advance's: the rollback's own alias change lands before it
            rollout.roll_back(platform, store, fn, "live", "operator: bad layer")
        return put_alias(alias)

    monkeypatch.setattr(platform, "put_alias", rollback_lands_first)
    with pytest.raises(Conflict):
        rollout.advance(platform, store, fn, "live")
    monkeypatch.undo()
    assert calls[0].weights  # the advance did set 50% after the rollback...
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})  # ...and undid it
    assert platform.function(fn).layers == (v1,)
    after = rollout.load(store, fn, "live")
    assert after is not None
    assert (after.status, after.settled) == ("rolled-back", True)


def test_two_advances_from_one_read_move_one_step(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, alarm = setup
    fn, _, _ = _started(platform, store, alarm)
    check_alarm = platform.alarm_state
    inner: list[rollout.Rollout] = []

    def other_tick_meanwhile(name: str) -> Any:
        state = check_alarm(name)
        monkeypatch.setattr(platform, "alarm_state", check_alarm)
        inner.append(rollout.advance(platform, store, fn, "live"))
        return state

    monkeypatch.setattr(platform, "alarm_state", other_tick_meanwhile)
    with pytest.raises(Conflict, match="changed after it was read"):
        rollout.advance(platform, store, fn, "live")
    assert inner[0].weight == 0.5
    assert rollout.load(store, fn, "live") == inner[0]
    assert dict(platform.get_alias(fn, "live").weights) == {inner[0].candidate: 0.5}


def test_the_rollouts_job_finishes_a_rollback_whose_restore_failed(layers_ctx: Any) -> None:
    with layers_ctx.connect("functions") as platform:
        fn, v1, v2 = _function(platform)
    api.start_rollout(layers_ctx, fn, "live", v2, steps=[0.1, 0.5])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            EmbeddedFunctions, "set_function_layers", _refuse(TransientError("throttled"))
        )
        with pytest.raises(TransientError, match="throttled"):
            api.roll_back(layers_ctx, fn, "live")
    finished = {"function": fn, "alias": "live", "status": "rolled-back", "weight": 0.0}
    assert jobs.advance_all(layers_ctx) == [finished]
    with layers_ctx.connect("functions") as platform:
        assert platform.function(fn).layers == (v1,)
        assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    assert jobs.advance_all(layers_ctx) == []


def _interrupted_after_canary(platform: FunctionPlatform) -> Any:
    """A ``put_alias`` whose first call sends the canary share, then gets Ctrl-C."""
    put_alias = platform.put_alias
    calls: list[Alias] = []

    def put_then_interrupt(alias: Alias) -> Alias:
        calls.append(alias)
        done = put_alias(alias)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return done

    return put_then_interrupt


def test_a_start_interrupted_during_launch_puts_the_function_back_and_records_it(
    setup: tuple[FunctionPlatform, str], store: KeyValueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, alarm = setup
    fn, v1, v2 = _function(platform)
    monkeypatch.setattr(platform, "put_alias", _interrupted_after_canary(platform))
    with pytest.raises(KeyboardInterrupt):
        rollout.start(
            platform, store, function=fn, alias="live", layer_arn=v2, steps=[0.1], alarm=alarm
        )
    monkeypatch.undo()
    assert platform.function(fn).layers == (v1,)
    assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    failed = rollout.load(store, fn, "live")
    assert failed is not None
    assert (failed.status, failed.settled, failed.weight) == ("rolled-back", True, 0.0)
    assert "start failed: KeyboardInterrupt" in failed.history[-1]


def test_the_rollouts_job_rolls_back_a_start_that_died(layers_ctx: Any) -> None:
    with layers_ctx.connect("functions") as platform:
        fn, v1, v2 = _function(platform)
    # the process is killed with the canary share sent: nothing of the start runs after that
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rollout, "_abandon", lambda *_: None)
        patch.setattr(
            EmbeddedFunctions, "put_alias", _refuse_after(EmbeddedFunctions.put_alias, SystemExit)
        )
        with pytest.raises(SystemExit):
            api.start_rollout(layers_ctx, fn, "live", v2, steps=[0.1, 0.5])
    with layers_ctx.connect("functions") as platform:
        assert platform.get_alias(fn, "live").weights  # the candidate gets traffic
    stuck = api.list_rollouts(layers_ctx)[0]
    assert stuck.status == "starting"
    assert jobs.advance_all(layers_ctx) == []  # young: its start may still be running
    later = stuck.updated_at + layers_ctx.config.rollout_start_timeout + 1
    back = {"function": fn, "alias": "live", "status": "rolled-back", "weight": 0.0}
    assert jobs.advance_all(layers_ctx, now=later) == [back]
    with layers_ctx.connect("functions") as platform:
        assert platform.function(fn).layers == (v1,)
        assert platform.get_alias(fn, "live") == Alias(fn, "live", "1", {})
    after = api.list_rollouts(layers_ctx)[0]
    assert (after.status, after.settled) == ("rolled-back", True)
    assert "start stalled" in after.history[-1]
    assert jobs.advance_all(layers_ctx, now=later) == []


def _refuse_after(method: Any, error: BaseException) -> Any:
    """``method`` that does its work, then raises ``error``."""

    def work_then_raise(self: Any, *args: Any) -> Any:
        method(self, *args)
        raise error

    return work_then_raise


def test_a_rollout_keeps_only_its_newest_history(store: KeyValueStore) -> None:
    record = rollout.Rollout("fn", "live", "arn:layer:2", "1", "2", ["arn:layer:1"], [0.1], None)
    for tick in range(500):  # an unsettled rollout notes every tick of the job
        record.note(f"tick {tick}")
    assert len(record.history) == HISTORY_LIMIT
    assert record.history[-1].endswith("tick 499")
    assert record.history[0].endswith(f"tick {500 - HISTORY_LIMIT}")
    rollout_record.write(store, record, 0)
    assert rollout.load(store, "fn", "live") == record

"""Remediation: policies turn the fleets' instances into a plan; applying it needs approval.

Policies (``[costs.remediation] policies``):

* ``off-hours``: stop running non-production instances (``environment`` tag not a production
  value) inside the off-hours window, weekends included when ``weekends_off``;
* ``tag-noncompliant``: tag instances that break the tag policy with ``cost_alerted=<date>``
  (once: an instance already carrying the tag is left alone);
* ``idle``: instances whose average CPU over ``idle_days`` is under ``idle_cpu_percent`` are
  stopped, resized to the ``downsize`` size of their size (stop, wait until stopped, resize,
  start) or terminated. Fleets without utilisation data are skipped and the plan says so. A
  resize starts again an instance it found running when the wait or the resize fails (a stop
  that outlasts the wait is waited for once more first); when that cannot be done either, the
  outcome and the audit say the instance is not running.

:func:`plan` never changes anything. :func:`apply` with ``approve=False`` returns the plan as a
dry run; with ``approve=True`` it performs each action and writes one audit record per action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from time import sleep as real_sleep
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skybridge.apps.costs.config import RemediationConfig, TagRule
from skybridge.apps.costs.ledger import Ledger
from skybridge.apps.costs.tags import instance_compliance
from skybridge.apps.kit.web import plan_digest
from skybridge.backends.compute import ComputeFleet, Instance
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub

log = get_logger(__name__)


@dataclass(frozen=True)
class Action:
    """One change to one instance, and why."""

    policy: str
    action: str  # stop | tag | resize | terminate
    fleet: str
    instance: str
    name: str
    reason: str
    params: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        keys = ("policy", "action", "fleet", "instance", "name", "reason")
        return {k: getattr(self, k) for k in keys} | {"params": dict(self.params)}


@dataclass
class Plan:
    """What the policies would do now, and what they could not judge."""

    at: datetime
    actions: list[Action] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actions": [a.to_dict() for a in self.actions],
            "skipped": self.skipped,
        }

    def digest(self) -> str:
        """What the plan would do, as a short digest: the same actions give the same one."""
        return plan_digest(f"{a.action} {a.fleet} {a.instance}" for a in self.actions)


def offhours_reason(now: datetime, config: RemediationConfig) -> str | None:
    """Why ``now`` is off hours (the weekend, or the nightly window, read in
    ``config.timezone``), or ``None`` if it is not."""
    try:
        local = now.astimezone(ZoneInfo(config.timezone))
    except ZoneInfoNotFoundError:
        raise ConfigError(
            f"unknown time zone {config.timezone!r}", setting="costs.remediation.timezone"
        ) from None
    if config.weekends_off and local.weekday() >= 5:
        return f"weekend ({local:%A} in {config.timezone})"
    first, _, last = config.offhours.partition("-")
    begin, end = time.fromisoformat(first), time.fromisoformat(last)
    clock = local.time()
    inside = begin <= clock or clock < end if begin > end else begin <= clock < end
    return f"off hours ({config.offhours} {config.timezone})" if inside else None


def _production(instance: Instance, config: RemediationConfig) -> bool:
    value = instance.tags.get(config.environment_tag, "")
    return value.lower() in {v.lower() for v in config.production_values} or not value


def plan(
    fleets: Mapping[str, ComputeFleet],
    config: RemediationConfig,
    rules: list[TagRule],
    now: datetime | None = None,
) -> Plan:
    """The actions the enabled policies call for on every fleet now."""
    now = now or datetime.now(UTC)
    result = Plan(now)
    for fleet_name, fleet in fleets.items():
        instances = fleet.instances(states={"running", "stopped"})
        why = offhours_reason(now, config) if "off-hours" in config.policies else None
        if why is not None:
            result.actions += _offhours(fleet_name, instances, config, why)
        if "tag-noncompliant" in config.policies:
            result.actions += _untagged(fleet_name, instances, config, rules, now)
        if "idle" in config.policies:
            _idle(result, fleet_name, fleet, instances, config, now)
    result.actions = _first_per_change(result.actions)
    return result


def _first_per_change(actions: list[Action]) -> list[Action]:
    """One action per instance and kind of change: an instance that off-hours stops is not
    stopped again because it is also idle."""
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for action in actions:
        change = "stop" if action.action in {"stop", "resize", "terminate"} else action.action
        key = (action.fleet, action.instance, change)
        if key not in seen:
            seen.add(key)
            kept.append(action)
    return kept


def _offhours(
    fleet: str, instances: list[Instance], config: RemediationConfig, window: str
) -> list[Action]:
    key = config.environment_tag
    return [
        Action(
            "off-hours",
            "stop",
            fleet,
            i.id,
            i.name,
            f"{key}={i.tags[key]} is not production; {window}",
        )
        for i in instances
        if i.state == "running" and not _production(i, config)
    ]


def _untagged(
    fleet: str,
    instances: list[Instance],
    config: RemediationConfig,
    rules: list[TagRule],
    now: datetime,
) -> list[Action]:
    actions = []
    for instance in instances:
        problem = instance_compliance(dict(instance.tags), rules)
        if problem and config.alert_tag not in instance.tags:
            params = {config.alert_tag: now.date().isoformat()}
            actions.append(
                Action(
                    "tag-noncompliant", "tag", fleet, instance.id, instance.name, problem, params
                )
            )
    return actions


def _idle(
    result: Plan,
    fleet_name: str,
    fleet: ComputeFleet,
    instances: list[Instance],
    config: RemediationConfig,
    now: datetime,
) -> None:
    running = [i for i in instances if i.state == "running"]
    if not fleet.supports("utilisation"):
        if running:
            result.skipped.append(
                {
                    "policy": "idle",
                    "fleet": fleet_name,
                    "reason": f"{fleet.describe()} reports no utilisation",
                }
            )
        return
    since = now - timedelta(days=config.idle_days)
    for instance in running:
        cpu = fleet.utilisation(instance.id, since)
        if cpu is None or cpu >= config.idle_cpu_percent:
            continue
        reason = (
            f"average CPU {cpu:.1f}% over {config.idle_days} days (< {config.idle_cpu_percent:g}%)"
        )
        if config.idle_action == "resize":
            smaller = config.downsize.get(instance.size)
            if smaller is None:
                result.skipped.append(
                    {
                        "policy": "idle",
                        "fleet": fleet_name,
                        "instance": instance.id,
                        "reason": f"no downsize size for {instance.size}",
                    }
                )
                continue
            result.actions.append(
                Action(
                    "idle",
                    "resize",
                    fleet_name,
                    instance.id,
                    instance.name,
                    reason,
                    {"size": smaller},
                )
            )
        else:
            result.actions.append(
                Action("idle", config.idle_action, fleet_name, instance.id, instance.name, reason)
            )


@dataclass
class Outcome:
    action: Action
    outcome: str  # done | failed | dry-run
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return self.action.to_dict() | {"outcome": self.outcome, "detail": self.detail}


@dataclass(frozen=True)
class StopWait:
    """How a resize waits for its instance to stop: at most ``timeout`` seconds, looking every
    ``poll`` seconds; ``clock`` and ``sleep`` are time as the wait sees it (tests move both)."""

    timeout: float = 1200.0
    poll: float = 5.0
    clock: Clock = SYSTEM_CLOCK
    sleep: Callable[[float], None] = real_sleep

    def stopped(self, fleet: ComputeFleet, instance_id: str) -> Instance:
        return fleet.wait_for(
            instance_id,
            {"stopped"},
            timeout=self.timeout,
            poll=self.poll,
            clock=self.clock,
            sleep=self.sleep,
        )


def apply(
    result: Plan,
    fleets: Mapping[str, ComputeFleet],
    ledger: Ledger,
    *,
    approve: bool,
    actor: str,
    wait: StopWait | None = None,
) -> list[Outcome]:
    """Perform the plan's actions when ``approve``; otherwise report them as a dry run.

    ``wait`` bounds how long a resize waits for its instance to stop (default: 20 minutes).
    """
    if not approve:
        return [Outcome(action, "dry-run") for action in result.actions]
    outcomes = []
    for action in result.actions:
        try:
            detail = _perform(fleets[action.fleet], action, wait or StopWait())
            outcome = Outcome(action, "done", detail)
        except SkybridgeError as exc:
            outcome = Outcome(action, "failed", scrub(str(exc)))
        ledger.audit(
            actor=actor,
            policy=action.policy,
            action=action.action,
            target=action.instance,
            fleet=action.fleet,
            outcome=outcome.outcome,
            detail=outcome.detail or action.reason,
        )
        outcomes.append(outcome)
    return outcomes


def _perform(fleet: ComputeFleet, action: Action, wait: StopWait) -> str:
    if action.action == "stop":
        return f"now {fleet.stop(action.instance).state}"
    if action.action == "tag":
        fleet.tag(action.instance, action.params)
        return "tagged " + ", ".join(f"{k}={v}" for k, v in action.params.items())
    if action.action == "terminate":
        return f"now {fleet.terminate(action.instance).state}"
    return _resize(fleet, action.instance, action.params["size"], wait)


def _resize(fleet: ComputeFleet, instance_id: str, size: str, wait: StopWait) -> str:
    """Stop, wait until stopped, resize, and start again an instance that was running.

    Raises:
        SkybridgeError: a step failed; its message ends with whether the instance, when it
            was running, was started again.
    """
    running = fleet.get(instance_id).state == "running"
    fleet.stop(instance_id)
    try:
        wait.stopped(fleet, instance_id)
        fleet.resize(instance_id, size)
    except SkybridgeError as exc:
        if running:
            again = _start_again(fleet, instance_id, wait)
            exc.message = f"resize to {size} failed: {exc.message}; {again}"
        raise
    except BaseException:
        if running:
            _start_again(fleet, instance_id)
        raise
    if not running:
        return f"resized to {size}"
    try:
        fleet.start(instance_id)
    except SkybridgeError as exc:
        exc.message = (
            f"resized to {size}, but the instance could not be started again: {exc.message}"
        )
        raise
    return f"resized to {size} and started again"


def _start_again(fleet: ComputeFleet, instance_id: str, wait: StopWait | None = None) -> str:
    """Start an instance a failed resize stopped; say whether that worked.

    Only a stopped instance starts: one still stopping (the wait for the stop timed out) is
    waited for once more with ``wait`` first (not when ``wait`` is ``None``: Ctrl-C).
    """
    try:
        state = fleet.get(instance_id).state
        if state == "running":
            return "the instance is running"
        if state != "stopped" and wait is not None:
            wait.stopped(fleet, instance_id)
        fleet.start(instance_id)
    except SkybridgeError as exc:
        log.warning("costs.restart_failed", instance=instance_id, error=scrub(str(exc)))
        return (
            f"the instance could not be started again ({exc.message}); it is not running: "
            "start it by hand"
        )
    return "the instance was started again"

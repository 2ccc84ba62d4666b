"""Gradual rollout of a new layer version through a weighted alias, rolled back on an alarm.

Starting a rollout puts the new layer version on the function's ``$LATEST`` (replacing the
other version of the same layer), freezes that as a new function version (the candidate) and
sends ``steps[0]`` of the alias's traffic to it; the alias's own version (the base) keeps the
rest. Each advance first reads the alarm: in ``ALARM`` the alias goes back to the base alone
and ``$LATEST`` gets the base's layers back; otherwise the next step's weight is set, and after
the last step the alias points at the candidate alone. The state of each rollout lives in the
app's kv store (``layers/rollouts/<function>/<alias>``), so any process can advance it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from skybridge.apps.layers.lifecycle import check_budget, with_layer
from skybridge.backends.functions import Alias, FunctionPlatform
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict, NotFound, ValidationError

PREFIX = "layers/rollouts/"
ACTIVE = "rolling"


@dataclass
class Rollout:
    """One rollout's state."""

    function: str
    alias: str
    layer: str
    base: str
    candidate: str
    base_layers: list[str]
    steps: list[float]
    alarm: str | None
    step: int = 0
    status: str = ACTIVE  # rolling | complete | rolled-back
    updated_at: float = field(default_factory=time.time)
    history: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.function}/{self.alias}"

    @property
    def weight(self) -> float:
        """Share of the alias's traffic the candidate gets now."""
        if self.status == "complete":
            return 1.0
        return 0.0 if self.status != ACTIVE else self.steps[self.step]

    def note(self, text: str) -> None:
        self.updated_at = time.time()
        self.history.append(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "weight": self.weight}


def check_steps(steps: Sequence[float]) -> list[float]:
    """Weights strictly between 0 and 1, rising."""
    values = [float(s) for s in steps]
    if not values or any(not 0 < s < 1 for s in values) or values != sorted(set(values)):
        raise ValidationError(
            f"rollout steps {values} must rise strictly between 0 and 1 (e.g. 0.1,0.5)"
        )
    return values


def start(
    platform: FunctionPlatform,
    store: KeyValueStore,
    *,
    function: str,
    alias: str,
    layer_arn: str,
    steps: Sequence[float],
    alarm: str | None = None,
    function_bytes: int = 0,
) -> Rollout:
    """Begin sending ``steps[0]`` of ``alias`` to a new version that uses ``layer_arn``.

    Refused before anything changes when the function (``function_bytes`` unzipped) and its
    layers would exceed Lambda's 250 MB.
    """
    weights = check_steps(steps)
    existing = load(store, function, alias)
    if existing is not None and existing.status == ACTIVE:
        raise Conflict(
            f"{function}:{alias} is already rolling out {existing.layer}",
            hint="advance it to the end or roll it back first",
        )
    if alarm is not None:
        platform.alarm_state(alarm)  # NotFound before anything changes
    current = platform.get_alias(function, alias)
    base = {c.version: c for c in platform.function_versions(function)}[current.version]
    layers = with_layer(base.layers, layer_arn)
    check_budget(platform, layers, function_bytes)
    platform.set_function_layers(function, layers)
    candidate = platform.publish_function_version(function, f"layer {layer_arn}")
    platform.put_alias(Alias(function, alias, current.version, {candidate.version: weights[0]}))
    rollout = Rollout(
        function,
        alias,
        layer_arn,
        current.version,
        candidate.version,
        list(base.layers),
        weights,
        alarm,
    )
    rollout.note(f"started: version {candidate.version} gets {weights[0]:.0%}")
    store.put_json(rollout.key, rollout.to_dict())
    return rollout


def load(store: KeyValueStore, function: str, alias: str) -> Rollout | None:
    document = store.get_json(f"{PREFIX}{function}/{alias}")
    return None if document is None else _from_dict(document)


def list_rollouts(store: KeyValueStore) -> list[Rollout]:
    return [_from_dict(store.get_json(item.key)) for item in store.scan_prefix(PREFIX)]


def advance(platform: FunctionPlatform, store: KeyValueStore, function: str, alias: str) -> Rollout:
    """Roll back if the alarm fires, else move to the next step (or finish)."""
    rollout = _active(store, function, alias)
    if rollout.alarm is not None and platform.alarm_state(rollout.alarm) == "ALARM":
        return _roll_back(platform, store, rollout, f"alarm {rollout.alarm} is in ALARM")
    if rollout.step + 1 < len(rollout.steps):
        rollout.step += 1
        weight = rollout.steps[rollout.step]
        platform.put_alias(Alias(function, alias, rollout.base, {rollout.candidate: weight}))
        rollout.note(f"version {rollout.candidate} gets {weight:.0%}")
    else:
        platform.put_alias(Alias(function, alias, rollout.candidate))
        rollout.status = "complete"
        rollout.note(f"complete: {alias} points at version {rollout.candidate}")
    store.put_json(rollout.key, rollout.to_dict())
    return rollout


def roll_back(
    platform: FunctionPlatform,
    store: KeyValueStore,
    function: str,
    alias: str,
    reason: str = "by hand",
) -> Rollout:
    """Send all traffic back to the base version and restore ``$LATEST``'s layers."""
    return _roll_back(platform, store, _active(store, function, alias), reason)


def _roll_back(
    platform: FunctionPlatform, store: KeyValueStore, rollout: Rollout, reason: str
) -> Rollout:
    platform.put_alias(Alias(rollout.function, rollout.alias, rollout.base))
    platform.set_function_layers(rollout.function, rollout.base_layers)
    rollout.status = "rolled-back"
    rollout.note(f"rolled back to version {rollout.base}: {reason}")
    store.put_json(rollout.key, rollout.to_dict())
    return rollout


def _active(store: KeyValueStore, function: str, alias: str) -> Rollout:
    rollout = load(store, function, alias)
    if rollout is None:
        raise NotFound(f"no rollout on {function}:{alias}")
    if rollout.status != ACTIVE:
        raise Conflict(f"the rollout on {function}:{alias} is already {rollout.status}")
    return rollout


def _from_dict(document: dict[str, Any]) -> Rollout:
    document = {k: v for k, v in document.items() if k != "weight"}
    return Rollout(**document)

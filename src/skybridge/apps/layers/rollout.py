"""Gradual rollout of a new layer version through a weighted alias, rolled back on an alarm.

Starting a rollout puts the new layer version on the function's ``$LATEST`` (replacing the
other version of the same layer), freezes that as a new function version (the candidate) and
sends ``steps[0]`` of the alias's traffic to it; the alias's own version (the base) keeps the
rest. Each advance first reads the alarm: in ``ALARM`` the rollout is rolled back (the alias goes
back to the base alone and ``$LATEST`` gets the base's layers back); otherwise the next step's
weight is set, and after the last step the alias points at the candidate alone.

The record in the kv store (:mod:`.rollout_record`) decides, so any process can act on a rollout:

* Each change is written to the record (compare-and-set, unsettled) before the platform is
  touched. An advance or start that read a stale record gets ``Conflict`` and changes nothing;
  a rollback reads the record again and wins.
* An advance that finds the record changed after it set the alias sets the alias the record now
  asks for, so a rollback landing mid-advance is never undone.
* A change that failed on the platform stays unsettled: the next advance (the rollouts job) or
  rollback makes it again instead of moving on. A rollback is recorded before the alias and the
  layers are restored, so it is never re-advanced.
* ``start`` records the rollout (``starting``) before it changes the function; if a step fails it
  puts the alias and ``$LATEST``'s layers back and records the rollout rolled back, so there is
  always a record for :func:`roll_back` to act on (also when it is interrupted: Ctrl-C,
  ``SystemExit``). A record left ``starting`` by a process that died is rolled back by the
  rollouts job once it is older than ``rollout_start_timeout``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from skybridge.apps.layers.lifecycle import check_budget, with_layer
from skybridge.apps.layers.rollout_record import (
    ACTIVE,
    COMPLETE,
    PREFIX,
    ROLLED_BACK,
    STARTING,
    Rollout,
    list_rollouts,
    load,
    read,
    read_existing,
    write,
)
from skybridge.backends.functions import Alias, FunctionPlatform
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import Conflict, ValidationError
from skybridge.core.observability import get_logger

__all__ = [
    "ACTIVE",
    "PREFIX",
    "Rollout",
    "advance",
    "check_steps",
    "list_rollouts",
    "load",
    "roll_back",
    "start",
]

log = get_logger(__name__)
#: Reads of the record a rollback makes when other writers keep changing it.
ROLLBACK_ATTEMPTS = 5


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
    layers would exceed Lambda's 250 MB, or while the last rollout is not finished. When a
    step fails part-way, the alias and ``$LATEST``'s layers are put back, the rollout is
    recorded rolled back (with what failed) and the error is raised.
    """
    weights = check_steps(steps)
    found = read(store, function, alias)
    if found is not None:
        _check_finished(found[0])
    if alarm is not None:
        platform.alarm_state(alarm)  # NotFound before anything changes
    before = platform.get_alias(function, alias)
    base = {c.version: c for c in platform.function_versions(function)}[before.version]
    layers = with_layer(base.layers, layer_arn)
    check_budget(platform, layers, function_bytes)
    rollout = Rollout(
        function,
        alias,
        layer_arn,
        before.version,
        "",  # the candidate: published below
        list(base.layers),
        weights,
        alarm,
        status=STARTING,
        settled=False,
    )
    rollout.note(f"starting: {layer_arn} goes on $LATEST")
    version = write(store, rollout, 0 if found is None else found[1])
    try:
        _launch(platform, rollout, layers)
        rollout.status, rollout.settled = ACTIVE, True
        rollout.note(f"started: version {rollout.candidate} gets {weights[0]:.0%}")
        write(store, rollout, version)
    except BaseException as exc:  # Ctrl-C too: never leave canary traffic with no owner
        _abandon(platform, store, rollout, version, before, exc)
        raise
    return rollout


def _check_finished(existing: Rollout) -> None:
    where = f"{existing.function}:{existing.alias}"
    if existing.status in (STARTING, ACTIVE):
        raise Conflict(
            f"{where} is already rolling out {existing.layer}",
            hint="advance it to the end or roll it back first",
        )
    if not existing.settled:
        raise Conflict(
            f"the last rollout on {where} is {existing.status} but its alias or layers are not "
            "yet as recorded",
            hint="finish it first: skybridge layers rollout advance (or rollback)",
        )


def _launch(platform: FunctionPlatform, rollout: Rollout, layers: list[str]) -> None:
    """Put ``layers`` on ``$LATEST``, publish the candidate and send it the first share."""
    platform.set_function_layers(rollout.function, layers)
    candidate = platform.publish_function_version(rollout.function, f"layer {rollout.layer}")
    rollout.candidate = candidate.version
    if list(candidate.layers) != layers:  # $LATEST changed between the two calls
        raise Conflict(
            f"version {candidate.version} of {rollout.function} has layers "
            f"{list(candidate.layers)}, not {layers}: another change reached $LATEST meanwhile",
            hint="start the rollout again",
        )
    first = {rollout.candidate: rollout.steps[0]}
    platform.put_alias(Alias(rollout.function, rollout.alias, rollout.base, first))


def _abandon(
    platform: FunctionPlatform,
    store: KeyValueStore,
    rollout: Rollout,
    version: int,
    before: Alias,
    error: BaseException,
) -> None:
    """Undo a start that failed part-way and record it rolled back, unless another process
    changed the record meanwhile (then that process owns the rollout)."""
    undo: list[Callable[[], object]] = []
    if rollout.candidate:  # the alias may have been changed
        undo.append(lambda: platform.put_alias(before))
    undo.append(lambda: platform.set_function_layers(rollout.function, rollout.base_layers))
    failed = []
    for step in undo:
        try:
            step()
        except Exception as exc:
            failed.append(str(exc))
    rollout.status, rollout.settled = ROLLED_BACK, not failed
    restored = (
        f"putting the alias and layers back failed too ({'; '.join(failed)}); roll back to retry"
        if failed
        else f"{rollout.alias} and $LATEST are as before"
    )
    reason = str(error) or type(error).__name__  # KeyboardInterrupt has no message
    rollout.note(f"start failed: {reason}; {restored}")
    log.warning(
        "layers.rollout_start_failed",
        function=rollout.function,
        alias=rollout.alias,
        reason=reason,
        restored=not failed,
    )
    try:
        write(store, rollout, version)
    except Exception as exc:
        log.warning("layers.rollout_not_recorded", function=rollout.function, reason=str(exc))


def advance(platform: FunctionPlatform, store: KeyValueStore, function: str, alias: str) -> Rollout:
    """Roll back if the alarm fires, else move to the next step (or finish).

    A rollout whose last change did not reach the platform gets that change made again and
    does not move on. Raises ``Conflict`` when the rollout is not rolling, or when another
    process changed it after it was read (then the alias is as that process's record says).
    """
    rollout, version = read_existing(store, function, alias)
    if not rollout.settled and rollout.status != STARTING:
        rollout.note(f"trying again to make the alias and layers {rollout.status}")
        return _settle(platform, store, rollout, version)
    _require_active(rollout)
    if rollout.alarm is not None and platform.alarm_state(rollout.alarm) == "ALARM":
        _mark_rolled_back(rollout, f"alarm {rollout.alarm} is in ALARM")
    elif rollout.step + 1 < len(rollout.steps):
        rollout.step += 1
        rollout.note(f"version {rollout.candidate} gets {rollout.weight:.0%}")
    else:
        rollout.status = COMPLETE
        rollout.note(f"complete: {alias} points at version {rollout.candidate}")
    rollout.settled = False
    return _settle(platform, store, rollout, write(store, rollout, version))


def roll_back(
    platform: FunctionPlatform,
    store: KeyValueStore,
    function: str,
    alias: str,
    reason: str = "by hand",
) -> Rollout:
    """Send all traffic back to the base version and restore ``$LATEST``'s layers.

    Wins over an advance running at the same time: when the record changed after it was read,
    it is read again. A rollback whose restore failed is made again; a rollback that already
    finished raises ``Conflict``.
    """
    attempt = 1
    while True:
        rollout, version = read_existing(store, function, alias)
        if rollout.status == ROLLED_BACK and not rollout.settled:
            rollout.note(f"rolling back again: {reason}")
            return _settle(platform, store, rollout, version)
        if rollout.status != STARTING:
            _require_active(rollout)
        _mark_rolled_back(rollout, reason)
        rollout.settled = False
        try:
            version = write(store, rollout, version)
        except Conflict:
            if attempt >= ROLLBACK_ATTEMPTS:
                raise
            attempt += 1
            continue
        return _settle(platform, store, rollout, version)


def _mark_rolled_back(rollout: Rollout, reason: str) -> None:
    rollout.status = ROLLED_BACK
    rollout.note(f"rolled back to version {rollout.base}: {reason}")


def _settle(
    platform: FunctionPlatform, store: KeyValueStore, rollout: Rollout, version: int
) -> Rollout:
    """Make the platform match ``rollout`` (stored at ``version``), then record it settled.

    A failure is noted in the record, which stays unsettled, and raised. When the record changed
    meanwhile, the alias is set as the newer record says and ``Conflict`` is raised.
    """
    for what, change in _changes(platform, rollout):
        try:
            change()
        except Exception as exc:
            rollout.note(f"{what} failed: {exc}; the next advance or rollback tries again")
            _write_note(store, rollout, version)
            raise
    rollout.settled = True
    try:
        write(store, rollout, version)
    except Conflict:
        newer = load(store, rollout.function, rollout.alias)
        if newer is not None and newer.target is not None:
            platform.put_alias(newer.target)
        raise
    return rollout


def _changes(
    platform: FunctionPlatform, rollout: Rollout
) -> list[tuple[str, Callable[[], object]]]:
    """What the platform needs, in order, to match ``rollout``: (description, call)."""
    target = rollout.target
    changes: list[tuple[str, Callable[[], object]]] = []
    if target is not None:
        changes.append((f"setting alias {rollout.alias}", lambda: platform.put_alias(target)))
    if rollout.status == ROLLED_BACK:
        layers = rollout.base_layers
        changes.append(
            (
                "restoring $LATEST's layers",
                lambda: platform.set_function_layers(rollout.function, layers),
            )
        )
    return changes


def _write_note(store: KeyValueStore, rollout: Rollout, version: int) -> None:
    """Record a failure if the record is still at ``version`` (the caller raises anyway)."""
    try:
        write(store, rollout, version)
    except Exception as exc:
        log.warning("layers.rollout_not_recorded", function=rollout.function, reason=str(exc))


def _require_active(rollout: Rollout) -> None:
    if rollout.status == STARTING:
        raise Conflict(
            f"the rollout on {rollout.function}:{rollout.alias} is still starting",
            hint="if its start failed part-way, roll it back",
        )
    if rollout.status != ACTIVE:
        raise Conflict(
            f"the rollout on {rollout.function}:{rollout.alias} is already {rollout.status}"
        )

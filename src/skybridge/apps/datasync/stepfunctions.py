"""The batch workflow as an AWS Step Functions state machine (the original's design), whose
four Task states invoke the step Lambda (``handlers.step_handler``) with the step to run.

Each state's output (``{"batch", "batch_id", "step", "state", "detail"}``) is the next state's
input; ``Parameters`` name the step. A transient failure (``TransientError``, Lambda throttles)
is retried with backoff; anything else ends in the ``Failed`` state, and running the machine
again for the same ``batch_id`` resumes at the step that failed (the steps record themselves).
:func:`check_asl` validates a definition's structure before it is deployed.
"""

from __future__ import annotations

import re
from typing import Any

from skybridge.apps.datasync.batchrecord import STEPS
from skybridge.core.errors import ValidationError

STATE_NAMES = {"extract": "Extract", "copy": "CopyToOCI", "load": "LoadStaging", "merge": "Merge"}
RETRYABLE = ["TransientError", "Lambda.ServiceException", "Lambda.TooManyRequestsException"]
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[\w-]{1,64}$")
_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}


def _task(step: str, function_arn: str, following: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": function_arn,
        "Parameters": {"batch.$": "$.batch", "batch_id.$": "$.batch_id", "step": step},
        "Retry": [
            {
                "ErrorEquals": RETRYABLE,
                "IntervalSeconds": 5,
                "MaxAttempts": 4,
                "BackoffRate": 2.0,
            }
        ],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
    }
    if following is None:
        state["End"] = True
    else:
        state["Next"] = following
    return state


def state_machine(batch: str, function_arn: str) -> dict[str, Any]:
    """The ASL definition running batch sync ``batch`` through the step Lambda."""
    names = [STATE_NAMES[s] for s in STEPS]
    states: dict[str, Any] = {
        name: _task(step, function_arn, names[i + 1] if i + 1 < len(names) else None)
        for i, (step, name) in enumerate(zip(STEPS, names, strict=True))
    }
    states["Failed"] = {
        "Type": "Fail",
        "Error": "BatchStepFailed",
        "Cause": "a batch step failed; run the machine again with the same batch_id to resume",
    }
    return {
        "Comment": f"skybridge datasync batch {batch}: extract -> copy to OCI -> load -> merge",
        "StartAt": names[0],
        "States": states,
    }


def check_asl(definition: dict[str, Any]) -> list[str]:
    """The state names in execution order; ValidationError says what is wrong."""
    states = definition.get("States")
    start = definition.get("StartAt")
    if not isinstance(states, dict) or not states:
        raise ValidationError("the definition has no States")
    if start not in states:
        raise ValidationError(f"StartAt {start!r} is not a state")
    for name, state in states.items():
        _check_state(name, state, states)
    order, current = [], start
    while current is not None:
        if current in order:
            raise ValidationError(f"state {current!r} is reached twice: the machine loops")
        order.append(current)
        current = states[current].get("Next")
    if states[order[-1]].get("Type") != "Fail" and not states[order[-1]].get("End"):
        raise ValidationError(f"state {order[-1]!r} neither ends nor names a Next state")
    return order


def _check_state(name: str, state: Any, states: dict[str, Any]) -> None:
    if not isinstance(state, dict) or state.get("Type") not in _TYPES:
        raise ValidationError(f"state {name!r} has no valid Type")
    targets = [state.get("Next")] + [c.get("Next") for c in state.get("Catch", [])]
    for target in filter(None, targets):
        if target not in states:
            raise ValidationError(f"state {name!r} goes to {target!r}, which is not a state")
    if state["Type"] == "Task":
        if not _LAMBDA_ARN.match(str(state.get("Resource", ""))):
            raise ValidationError(f"state {name!r}: Resource is not a Lambda function ARN")
        if bool(state.get("End")) == ("Next" in state):
            raise ValidationError(f"state {name!r} needs exactly one of Next or End")

"""The batch workflow as an AWS Step Functions state machine: its ASL validates, its Task
states are our step Lambda, and it runs to SUCCEEDED on moto's Step Functions.

moto cannot run our Lambda code (simple mode echoes canned results), so the handler runs here
in-process, step by step, on a real batch, and moto's Lambda answers with exactly what the
handler returned: the machine's path and final output are then those of a real run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from typer.testing import CliRunner

from skybridge.apps.datasync import handlers
from skybridge.apps.datasync.stepfunctions import STATE_NAMES, check_asl, state_machine
from skybridge.cli import build_cli
from skybridge.core.errors import ValidationError

ARN = "arn:aws:lambda:us-east-1:123456789012:function:skybridge-datasync-step"
SETTINGS = """
[datasync.batches.nightly]
table = "orders"
prefix = "exports/"
every = 3600
"""


def test_the_state_machine_validates_and_runs_the_four_steps_in_order() -> None:
    definition = state_machine("nightly", ARN)
    assert check_asl(definition) == ["Extract", "CopyToOCI", "LoadStaging", "Merge"]
    extract = definition["States"]["Extract"]
    assert extract["Parameters"]["step"] == "extract"
    assert "TransientError" in extract["Retry"][0]["ErrorEquals"]
    assert extract["Catch"][0]["Next"] == "Failed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["States"]["Merge"].pop("End"), "Next or End"),
        (lambda d: d.update(StartAt="Nope"), "StartAt"),
        (lambda d: d["States"]["Extract"].update(Next="Gone"), "not a state"),
        (lambda d: d["States"]["Merge"].update(Resource="arn:aws:s3:::x"), "Lambda"),
        (lambda d: d["States"]["Merge"].update(Next="Extract", End=False), "loops"),
    ],
)
def test_broken_definitions_are_refused(change: Any, message: str) -> None:
    definition = state_machine("nightly", ARN)
    change(definition)
    with pytest.raises(ValidationError, match=message):
        check_asl(definition)


def _moto_config(url: str, body: dict[str, Any]) -> None:
    httpx.post(f"{url}/moto-api/config", json=body).raise_for_status()


@pytest.mark.moto
def test_the_exported_machine_succeeds_on_moto_with_the_handlers_outputs(
    skybridge_workdir: Path, moto_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTO_PORT", str(moto_server.port))  # Step Functions calls Lambda there
    (skybridge_workdir / "skybridge.toml").write_text(SETTINGS)
    csv = b"order_id,status,version\n1,new,1\n2,paid,3\n"
    exports = skybridge_workdir / ".skybridge" / "objects" / "datasync" / "aws" / "exports"
    exports.mkdir(parents=True)
    (exports / "day.csv").write_bytes(csv)
    out = skybridge_workdir / "machine.json"
    result = CliRunner().invoke(
        build_cli(), ["datasync", "export-asl", "nightly", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    definition = json.loads(out.read_text())

    # The handlers, run here step by step, carrying each output to the next step's input.
    outputs, event = [], {"batch": "nightly", "batch_id": None}
    for step in STATE_NAMES:
        output = handlers.step_handler({**event, "step": step})
        assert output["state"] == "done", output
        outputs.append(output)
        event = {"batch": output["batch"], "batch_id": output["batch_id"]}
    assert outputs[-1]["detail"] == {"written": 2, "stale": 0}

    _moto_config(moto_server.url, {"lambda": {"use_docker": False}})
    _moto_config(moto_server.url, {"stepfunctions": {"execute_state_machine": True}})
    try:
        status, history, final = _execute(moto_server.url, definition, outputs)
    finally:
        _moto_config(moto_server.url, {"stepfunctions": {"execute_state_machine": False}})
    assert status == "SUCCEEDED", json.dumps(
        [e for e in history if "Failed" in e["type"]], default=str
    )
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e
    ]
    assert entered == ["Extract", "CopyToOCI", "LoadStaging", "Merge"]
    assert final == outputs[-1]


def _execute(url: str, definition: dict[str, Any], outputs: list[Any]) -> tuple[str, Any, Any]:
    region = {"endpoint_url": url, "region_name": "us-east-1"}
    iam, lam, sfn = (boto3.client(s, **region) for s in ("iam", "lambda", "stepfunctions"))
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(
        RoleName=f"ds-{time.time_ns()}", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    name = f"skybridge-datasync-step-{time.time_ns()}"
    function = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="skybridge.apps.datasync.handlers.step_handler",
        Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
    )["FunctionArn"]
    for state in definition["States"].values():
        if state["Type"] == "Task":
            state["Resource"] = function
    check_asl(definition)
    httpx.post(
        f"{url}/moto-api/static/lambda-simple/response",
        json={"results": [json.dumps(o) for o in outputs]},
    ).raise_for_status()
    machine = sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=role)
    run = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"],
        input=json.dumps({"batch": "nightly", "batch_id": None}),
    )
    deadline = time.monotonic() + 30
    while (described := sfn.describe_execution(executionArn=run["executionArn"]))[
        "status"
    ] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not finish"
        time.sleep(0.2)
    history = sfn.get_execution_history(executionArn=run["executionArn"])["events"]
    return described["status"], history, json.loads(described.get("output", "null"))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: handlers.step_handler(None), "the event must be"),  # type: ignore[arg-type]
        (lambda: handlers.step_handler({"batch": 3}), "batch must be a string"),
        (lambda: handlers.publish_handler([]), "the event must be a change"),  # type: ignore[arg-type]
        (lambda: handlers.oci_merge_handler(None, b"{x"), "the body is not JSON"),
        (lambda: handlers.oci_merge_handler(None, b"\xff\xfe"), "the body is not JSON"),
        (lambda: handlers.oci_merge_handler(None, b"[]"), "the body needs"),
    ],
)
def test_a_malformed_event_is_named_before_anything_runs(
    call: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        call()

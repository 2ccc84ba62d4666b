"""Entry points: Lambda (EventBridge, SQS batch with partial failures, schedule), OCI Functions."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.secretsync import handlers, manual_event
from skybridge.core.secret import Secret


@pytest.fixture(autouse=True)
def _reset_engine() -> Iterator[None]:
    yield
    handlers.use_engine(None)


def _sqs(*bodies: tuple[str, Any]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": mid,
                "receiptHandle": "rh",
                "body": body if isinstance(body, str) else json.dumps(body),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:012345678901:secretsync-events",
            }
            for mid, body in bodies
        ]
    }


def _put(rig: Any, name: str, value: str) -> str:
    return str(
        rig.source.upsert_value(name, Secret(value), version_id=str(uuid.uuid4())).version_id
    )


def test_lambda_eventbridge_event(rig: Any) -> None:
    handlers.use_engine(rig.engine(rig.mapping("a", "a", "a-t")))
    version = _put(rig, "a", "va")
    result = handlers.lambda_handler(manual_event("a", version), None)
    assert result["outcomes"][0]["action"] == "created"
    assert handlers.lambda_handler(manual_event("unmapped", version), None) == {"outcomes": []}


def test_lambda_sqs_batch_reports_partial_failures(rig: Any) -> None:
    sync = rig.engine(rig.mapping("a", "a", "a-t"), rig.mapping("b", "b", "b-t"), lock_wait=0.05)
    handlers.use_engine(sync)
    va, vb = _put(rig, "a", "va"), _put(rig, "b", "vb")
    rig.kv.compare_and_set("secretsync/lock/b", b"held-by-a-stuck-worker", 0, ttl=60)
    result = handlers.lambda_handler(
        _sqs(
            ("m-ok", manual_event("a", va)),
            ("m-busy", manual_event("b", vb)),
            ("m-poison", "{nope"),
        ),
        None,
    )
    # transient (lock held) -> SQS redelivers it; poison -> our dead letters, not redelivered
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-busy"}]}
    assert rig.target.get_value("a-t").value.reveal() == "va"
    [letter] = sync.list_dead_letters()
    assert letter.mapping is None
    assert "not valid JSON" in letter.reason
    rig.kv.delete("secretsync/lock/b")
    again = handlers.lambda_handler(_sqs(("m-busy", manual_event("b", vb))), None)
    assert again == {"batchItemFailures": []}
    assert rig.target.get_value("b-t").value.reveal() == "vb"


def test_lambda_schedule_and_actions(rig: Any) -> None:
    handlers.use_engine(rig.engine(rig.mapping("a", "a", "a-t")))
    _put(rig, "a", "va")
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    result = handlers.lambda_handler(scheduled, None)
    assert result["plan"]["actions"][0]["action"] == "create"
    assert result["writes"] == 1
    assert handlers.lambda_handler({"action": "reconcile", "dry_run": True}, None)["writes"] == 0
    assert handlers.lambda_handler({"action": "status"}, None)["status"][0]["drift"] == "in-sync"
    assert handlers.lambda_handler({"action": "replay"}, None) == {"replayed": []}
    assert "unknown action" in handlers.lambda_handler({"action": "explode"}, None)["error"]
    assert handlers.reconcile_handler({"dry_run": True})["dry_run"] is True


def test_oci_functions_handler(rig: Any) -> None:
    handlers.use_engine(rig.engine(rig.mapping("a", "a", "a-t")))
    version = _put(rig, "a", "va")
    out = json.loads(
        handlers.oci_handler(None, io.BytesIO(json.dumps(manual_event("a", version)).encode()))
    )
    assert out["outcomes"][0]["action"] == "created"
    assert (
        json.loads(handlers.oci_handler(None, io.BytesIO(b"")))["writes"] == 0
    )  # empty: reconcile
    alarm = {
        "dedupeKey": "k",
        "title": "secretsync-reconcile",
        "type": "OK_TO_FIRING",
        "alarmMetaData": [],
    }
    assert "plan" in json.loads(handlers.oci_handler(None, json.dumps(alarm)))
    many = json.loads(handlers.oci_handler(None, [manual_event("a", version)] * 2))
    assert [o["action"] for o in many["outcomes"]] == ["unchanged", "unchanged"]


def test_engine_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = f"""
owner = "env-test"
[backends]
src = "local://{tmp_path}/src"
dst = "local://{tmp_path}/dst"
[[mappings]]
name = "a"
source = {{ backend = "src", secret = "a" }}
target = {{ backend = "dst", secret = "a-t" }}
"""
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE", table)
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__STATE", f"sqlite:///{tmp_path}/kv.db")
    monkeypatch.setenv("SKYBRIDGE__SECRETSYNC__ACTOR", "env-actor")
    handlers.use_engine(None)
    engine = handlers.get_engine()
    try:
        version = engine.backends.get("src").create("a", Secret("from-env")).version_id
        result = handlers.lambda_handler(manual_event("a", version), None)
        assert result["outcomes"][0]["action"] == "created"
        assert engine.audit_log()[0].actor == "env-actor"
    finally:
        engine.close()
        engine.state.kv.close()


def test_missing_table_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from skybridge.apps.secretsync.handlers import engine_from_env
    from skybridge.core.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SKYBRIDGE__SECRETSYNC__MAPPINGS", raising=False)
    monkeypatch.delenv("SKYBRIDGE__SECRETSYNC__MAPPINGS_INLINE", raising=False)
    with pytest.raises(ConfigError, match="MAPPINGS"):
        engine_from_env()

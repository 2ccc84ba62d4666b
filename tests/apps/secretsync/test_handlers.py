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
from skybridge.core.errors import ValidationError
from skybridge.core.observability import configure_logging
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
    [ignored] = handlers.lambda_handler(manual_event("unmapped", version), None)["outcomes"]
    assert (ignored["mapping"], ignored["action"]) == ("-", "ignored")
    assert ignored["detail"] == "no mapping has the source unmapped"


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
    assert handlers.lambda_handler({"action": "replay", "all": True}, None) == {"replayed": []}
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


ARTICLE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/database/password-AbCdEf"


class Logs:
    """The JSON log lines written while the test runs (other tests may have set the level)."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def named(self, event: str) -> list[dict[str, Any]]:
        lines = [json.loads(x) for x in self.stream.getvalue().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("event") == event]


@pytest.fixture
def logs() -> Iterator[Logs]:
    found = Logs()
    configure_logging("DEBUG", json_output=True, stream=found.stream)
    yield found
    configure_logging("INFO", json_output=True)


def _article_rig(rig: Any) -> Any:
    sync = rig.engine(rig.mapping("db", "prod/database/password", "prod-db-password"))
    handlers.use_engine(sync)
    rig.source.create("prod/database/password", Secret("s3cret-canary"))
    return sync


def _cloudtrail(name: str) -> dict[str, Any]:
    """The CloudTrail event the article's rule matches (shape of the report's finding 6)."""
    return {
        "version": "0",
        "id": "2",
        "source": "aws.secretsmanager",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "requestParameters": {"secretId": "prod/database/password"},
            "responseElements": {"arn": ARTICLE_ARN, "name": "prod/database/password"},
        },
    }


def test_article_input_transformer_event_syncs_and_reports_its_oci_fields(
    rig: Any, logs: Logs
) -> None:
    sync = _article_rig(rig)
    event = {
        "detail": {
            "aws_secret_arn": ARTICLE_ARN,
            "oci_secret_ocid": "ocid1.vaultsecret.oc1..x",
            "oci_vault_id": "ocid1.vault.oc1..x",
            "oci_key_id": "ocid1.key.oc1..x",
        }
    }
    [outcome] = handlers.lambda_handler(event, None)["outcomes"]
    assert (outcome["mapping"], outcome["action"]) == ("db", "created")
    assert rig.target.get_value("prod-db-password").value.reveal() == "s3cret-canary"
    # the table chose the target (a local store); the event's OCI fields are named, not used
    assert "ignored the event's oci_secret_ocid" in outcome["detail"]
    [warning] = logs.named("secretsync.event_target_ignored")
    assert warning["fields"] == ["oci_key_id", "oci_secret_ocid", "oci_vault_id"]
    assert "mapping table" in warning["reason"]
    assert "s3cret-canary" not in logs.stream.getvalue() + json.dumps(outcome)
    assert sync.list_dead_letters() == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("RotateSecret", "only starts a rotation"),
        ("CreateSecret", "reconcile"),
        ("DeleteSecret", "deletion policy"),
    ],
)
def test_calls_that_need_no_sync_are_ignored_with_a_reason(
    rig: Any, logs: Logs, name: str, reason: str
) -> None:
    sync = _article_rig(rig)
    [outcome] = handlers.lambda_handler(_cloudtrail(name), None)["outcomes"]
    assert (outcome["mapping"], outcome["action"]) == ("-", "ignored")
    assert reason in outcome["detail"]
    [line] = logs.named("secretsync.ignored")
    assert (line["kind"], line["secret"]) == (name, ARTICLE_ARN)
    assert reason in line["reason"]
    assert sync.list_dead_letters() == []
    assert [s.name for s in rig.target.list()] == []


def test_unknown_shapes_are_ignored_with_a_reason(rig: Any) -> None:
    _article_rig(rig)
    for event in ({"detail": {"hello": "world"}}, {"source": "aws.s3", "detail": {}}):
        [outcome] = handlers.lambda_handler(event, None)["outcomes"]
        assert outcome["action"] == "ignored"
        assert "aws_secret_arn" in outcome["detail"]
    oci = json.loads(handlers.oci_handler(None, json.dumps(_cloudtrail("RotateSecret"))))
    assert oci["outcomes"][0]["action"] == "ignored"


def test_a_huge_secret_id_is_cut_in_logs_and_outcomes(rig: Any, logs: Logs) -> None:
    _article_rig(rig)
    huge = "x" * 5_000_000
    event = {
        "source": "aws.secretsmanager",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": "PutSecretValue", "requestParameters": {"secretId": huge}},
    }
    [outcome] = handlers.lambda_handler(event, None)["outcomes"]
    [line] = logs.named("secretsync.unmapped")
    assert len(line["secret"]) < 700
    assert line["secret"].endswith("(5000000 characters)")
    assert len(outcome["detail"]) < 800


def test_action_options_are_validated_as_the_http_routes_do(rig: Any) -> None:
    sync = rig.engine(rig.mapping("a", "a", "a-t"))
    handlers.use_engine(sync)
    _put(rig, "a", "va")
    for poison in ("{x", "[]", "null"):
        handlers.lambda_handler(poison, None)
    letters = sync.list_dead_letters()
    assert len(letters) == 3
    one = letters[0].letter_id
    with pytest.raises(ValidationError, match=r"letter_ids: Input should be a valid list"):
        handlers.lambda_handler({"action": "replay", "letter_ids": one}, None)
    with pytest.raises(ValidationError, match=r"non-empty 'letter_ids' list or all=true"):
        handlers.lambda_handler({"action": "replay"}, None)
    with pytest.raises(ValidationError, match=r"all: Input should be a valid boolean"):
        handlers.lambda_handler({"action": "replay", "all": "true"}, None)
    with pytest.raises(ValidationError, match=r"letter_ids\.0: Input should be a valid string"):
        handlers.lambda_handler({"action": "replay", "letter_ids": [1]}, None)
    assert [x.replays for x in sync.list_dead_letters()] == [0, 0, 0]  # nothing was replayed
    [replayed] = handlers.lambda_handler({"action": "replay", "letter_ids": [one]}, None)[
        "replayed"
    ]
    assert (replayed["letter_id"], replayed["ok"]) == (one, False)  # poison fails again
    replays = {x.letter_id: x.replays for x in sync.list_dead_letters()}
    assert replays == {x.letter_id: int(x.letter_id == one) for x in letters}

    with pytest.raises(ValidationError, match=r"dry_run: Input should be a valid boolean"):
        handlers.lambda_handler({"action": "reconcile", "dry_run": "false"}, None)
    with pytest.raises(ValidationError, match=r"full: Input should be a valid boolean"):
        handlers.reconcile_handler({"full": 1})
    with pytest.raises(ValidationError, match=r"dry_run"):
        handlers.oci_handler(None, json.dumps({"action": "reconcile", "dry_run": "no"}))
    assert [s.name for s in rig.target.list()] == []  # no reconcile ran
    # a scheduled reconcile repairs by default; dry_run plans
    assert handlers.reconcile_handler({"dry_run": True})["writes"] == 0
    assert handlers.lambda_handler({"action": "reconcile"}, None)["writes"] == 1

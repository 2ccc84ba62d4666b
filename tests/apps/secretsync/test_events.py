"""Event parsing: the native Secret Label Updated shape, the CloudTrail shapes, the article's
input-transformer shape, and the reasons given for the events that need no sync."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.apps.secretsync import manual_event, parse_event
from skybridge.apps.secretsync.events import IgnoredEvent, SecretEvent, arn_name, read_event
from skybridge.apps.secretsync.matching import source_match
from skybridge.core.errors import ValidationError


def load_event(name: str) -> Any:
    return json.loads((Path(__file__).parent / "events" / f"{name}.json").read_text())


ARN = "arn:aws:secretsmanager:us-east-1:012345678901:secret:prod/db-AbCdEf"


@pytest.mark.parametrize(
    ("fixture", "secret", "version", "kind"),
    [
        (
            "label_updated",
            "arn:aws:secretsmanager:us-west-2:012345678901:secret:mySecret-a1b2c3",
            "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "label-updated",
        ),
        (
            "cloudtrail_put_secret_value",
            ARN,
            "b2c3d4e5-6789-01bc-def0-EXAMPLE33333",
            "PutSecretValue",
        ),
        (
            "cloudtrail_put_secret_value_old_aRN",
            ARN,
            "c3d4e5f6-7890-12cd-ef01-EXAMPLE44444",
            "PutSecretValue",
        ),
        ("cloudtrail_update_secret", ARN, "d4e5f6a7-8901-23de-f012-EXAMPLE55555", "UpdateSecret"),
        (
            "cloudtrail_update_secret_version_stage",
            ARN,
            "e5f6a7b8-9012-34ef-0123-EXAMPLE66666",
            "UpdateSecretVersionStage",
        ),
        ("cloudtrail_rotation_succeeded", ARN, None, "RotationSucceeded"),
    ],
)
def test_shapes(fixture: str, secret: str, version: str | None, kind: str) -> None:
    event = parse_event(load_event(fixture))
    assert event is not None
    assert (event.secret, event.version_id, event.kind) == (secret, version, kind)
    assert event.time is not None
    assert source_match(secret, event) == "exact"
    # a mapping by name matches too (RotationSucceeded's SecretId is a caller's ARN: possible)
    assert source_match(arn_name(secret, full=True), event) is not None


def test_label_updated_carries_name_and_accepts_text_and_bytes() -> None:
    raw = json.dumps(load_event("label_updated"))
    for given_as in (raw, raw.encode()):
        event = parse_event(given_as)
        assert event is not None
        assert event.name == "mySecret"
        assert "mySecret" in event.identifiers()


@pytest.mark.parametrize(
    "fixture",
    [
        "label_updated_custom_label",  # not AWSCURRENT
        "cloudtrail_put_secret_value_pending",  # AWSPENDING during rotation
        "cloudtrail_put_secret_value_failed",  # errorCode
    ],
)
def test_events_that_announce_no_current_value_are_ignored(fixture: str) -> None:
    assert parse_event(load_event(fixture)) is None


def test_other_sources_and_event_names_are_ignored() -> None:
    other = load_event("cloudtrail_put_secret_value")
    other["detail"]["eventName"] = "GetSecretValue"
    assert parse_event(other) is None
    s3 = {**load_event("label_updated"), "source": "aws.s3"}
    assert parse_event(s3) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ({"source": "aws.secretsmanager", "detail-type": "Secret Label Updated"}, "no detail"),
        (
            {
                "source": "aws.secretsmanager",
                "detail-type": "Secret Label Updated",
                "detail": {"labelUpdated": "AWSCURRENT"},
            },
            "names no secret",
        ),
    ],
)
def test_poison_input_raises_validation_error(raw: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_event(raw)


def test_manual_events_round_trip() -> None:
    event = parse_event(manual_event("a/b", "v1", backend="src"))
    assert event is not None
    assert (event.secret, event.version_id, event.backend, event.kind) == (
        "a/b",
        "v1",
        "src",
        "manual",
    )


@given(
    st.from_regex(r"[A-Za-z0-9/_+=.@-]{1,60}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9]{6}", fullmatch=True),
)
def test_arn_name_strips_the_random_suffix_of_a_full_arn_only(name: str, suffix: str) -> None:
    partial = f"arn:aws:secretsmanager:eu-west-1:012345678901:secret:{name}"
    assert arn_name(f"{partial}-{suffix}", full=True) == name
    assert arn_name(partial) == name  # a partial ARN is never cut, whatever the name ends with
    assert arn_name(f"{partial}-{suffix}") == f"{name}-{suffix}"
    assert arn_name(name, full=True) == name


def test_arn_name_keeps_a_hyphenated_name_of_a_partial_arn() -> None:
    partial = "arn:aws:secretsmanager:us-east-1:012345678901:secret:prod/db-backup"
    assert arn_name(partial) == "prod/db-backup"
    assert arn_name(partial + "-AbCdEf", full=True) == "prod/db-backup"


ARTICLE_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/database/password-AbCdEf"


def _call(name: str, **detail: Any) -> dict[str, Any]:
    """A CloudTrail event for the call ``name`` (shape of events/cloudtrail_*.json)."""
    event = load_event("cloudtrail_put_secret_value")
    event["detail"]["eventName"] = name
    event["detail"]["requestParameters"] = {"secretId": "prod/database/password"}
    event["detail"]["responseElements"] = {"arn": ARTICLE_ARN, "name": "prod/database/password"}
    event["detail"].update(detail)
    return event


def test_article_input_transformer_event_is_read() -> None:
    raw = {
        "detail": {
            "aws_secret_arn": ARTICLE_ARN,
            "oci_secret_ocid": "ocid1.vaultsecret.oc1..x",
            "oci_vault_id": "ocid1.vault.oc1..x",
            "oci_key_id": "ocid1.key.oc1..x",
        }
    }
    event = read_event(raw)
    assert isinstance(event, SecretEvent)
    assert (event.secret, event.version_id, event.kind) == (ARTICLE_ARN, None, "input-transformer")
    assert not event.arn_is_full  # requestParameters.secretId: whatever the caller passed
    assert dict(event.target_hints) == {
        k: v for k, v in raw["detail"].items() if k != "aws_secret_arn"
    }


@pytest.mark.parametrize("arn", ["", None])
def test_article_event_without_a_secret_is_poison(arn: object) -> None:
    with pytest.raises(ValidationError, match="aws_secret_arn"):
        read_event({"detail": {"aws_secret_arn": arn, "oci_vault_id": "ocid1.vault.oc1..x"}})


@pytest.mark.parametrize(
    ("raw", "kind", "reason"),
    [
        (_call("RotateSecret"), "RotateSecret", "only starts a rotation"),
        (_call("CreateSecret"), "CreateSecret", "reconcile"),
        (_call("DeleteSecret"), "DeleteSecret", "deletion policy"),
        (_call("GetSecretValue"), "GetSecretValue", "does not make a new value current"),
        (_call("PutSecretValue", errorCode="AccessDenied"), "PutSecretValue", "call failed"),
        (load_event("cloudtrail_put_secret_value_pending"), "PutSecretValue", "AWSPENDING"),
        (load_event("label_updated_custom_label"), "label-updated", "only AWSCURRENT"),
        ({**load_event("label_updated"), "source": "aws.s3"}, "unknown", "source 'aws.s3'"),
        ({"detail": {"hello": 1}}, "unknown", "source null"),
        (
            {**load_event("label_updated"), "detail-type": "Secret Deleted"},
            "unknown",
            "detail-type 'Secret Deleted'",
        ),
    ],
)
def test_ignored_events_say_why(raw: dict[str, Any], kind: str, reason: str) -> None:
    event = read_event(raw)
    assert isinstance(event, IgnoredEvent)
    assert event.kind == kind
    assert reason in event.reason
    assert parse_event(raw) is None

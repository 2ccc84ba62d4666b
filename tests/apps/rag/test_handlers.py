"""Upload events: S3 (direct, SNS, SQS, EventBridge) against the moto server; OCI event shapes;
what is ignored, what is retried and what is set aside."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from structlog.testing import capture_logs

from skybridge.apps.rag import handlers
from skybridge.apps.rag.answers import query
from skybridge.apps.rag.handlers import (
    MalformedEvent,
    ObjectEvent,
    lambda_handler,
    oci_events,
    oci_handler,
    s3_events,
)
from skybridge.core.errors import TransientError

pytestmark = pytest.mark.moto

BODY = b"# On call\n\nPages are acknowledged within ten minutes."
#: Every S3 event type that leaves the object's content as it was (AWS S3 User Guide,
#: "Supported event types"), as S3 names them in ``eventName``.
UNCHANGED = [
    "ObjectTagging:Put",
    "ObjectTagging:Delete",
    "ObjectAcl:Put",
    "ObjectRestore:Post",
    "ObjectRestore:Completed",
    "ObjectRestore:Delete",
    "LifecycleTransition",
    "IntelligentTiering",
    "Replication:OperationFailedReplication",
    "Replication:OperationReplicatedAfterThreshold",
    "ReducedRedundancyLostObject",
]


def s3_record(bucket: str, key: str, name: str | bool = True) -> dict[str, Any]:
    """One record as S3 writes it: the key URL-encoded (space as ``+``, ``(`` as ``%28``)."""
    if isinstance(name, bool):
        name = "ObjectCreated:Put" if name else "ObjectRemoved:Delete"
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2025-01-01T12:00:00.000Z",
        "eventName": name,
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "rag-uploads",
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": quote_plus(key, safe="/"), "size": 53, "sequencer": "0A1B"},
        },
    }


def sqs_message(message_id: str, body: Any) -> dict[str, Any]:
    """One SQS record of a Lambda event; ``body`` as S3 sends it (JSON text) unless a string."""
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:rag-uploads",
        "awsRegion": "us-east-1",
    }


TEST_EVENT = {
    "Service": "Amazon S3",
    "Event": "s3:TestEvent",
    "Time": "2025-01-01T12:00:00.000Z",
    "Bucket": "handbook",
    "RequestId": "5582815E1AEA5ADF",
    "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def bucket(moto_server: Any, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(
        "SKYBRIDGE__RAG__EVENT_URL_PARAMS", f"region=us-east-1&endpoint_url={moto_server.url}"
    )
    client = boto3.client("s3", endpoint_url=moto_server.url, region_name="us-east-1")
    client.create_bucket(Bucket="handbook")
    return client


@pytest.fixture
def s3_down(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """S3 unreachable: the store URL names a port nothing listens on."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv(
        "SKYBRIDGE__RAG__EVENT_URL_PARAMS", f"region=us-east-1&endpoint_url={endpoint}"
    )


@pytest.fixture
def set_aside(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Malformed messages are answered under ``setAside`` instead of failing."""
    monkeypatch.setenv("SKYBRIDGE__RAG__MALFORMED_MESSAGES", "set_aside")


@pytest.fixture
def vectors_down(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectors backend (pgvector) unreachable."""
    monkeypatch.setenv(
        "SKYBRIDGE__BACKENDS__VECTORS", f"pgvector://u:p@127.0.0.1:{closed_port()}/kb"
    )


def test_an_upload_is_indexed_and_a_delete_removes_it(bucket: Any) -> None:
    key = "ops/on call (v2).md"
    bucket.put_object(Bucket="handbook", Key=key, Body=BODY)
    assert s3_record("handbook", key)["s3"]["object"]["key"] == "ops/on+call+%28v2%29.md"
    result = lambda_handler({"Records": [s3_record("handbook", key)]})
    assert result["results"] == [
        {"store": "s3://handbook", "key": key, "indexed": 1, "skipped": []}
    ]
    rag = handlers.engine()
    assert query(rag, "acknowledge pages", record=False).hits[0].document == key
    bucket.delete_object(Bucket="handbook", Key=key)
    sqs = {"Records": [sqs_message("m1", {"Records": [s3_record("handbook", key, False)]})]}
    answer = lambda_handler(sqs)
    assert answer["batchItemFailures"] == []
    assert answer["results"][0]["removed"] is True
    assert rag.documents.get(key) is None
    assert rag.vectors.count(rag.collection) == 0


def test_events_that_change_no_content_leave_the_document_indexed(bucket: Any) -> None:
    bucket.put_object(Bucket="handbook", Key="oncall.md", Body=BODY)
    lambda_handler({"Records": [s3_record("handbook", "oncall.md")]})
    rag = handlers.engine()
    for name in UNCHANGED:
        result = lambda_handler({"Records": [s3_record("handbook", "oncall.md", name)]})
        (only,) = result["results"]
        assert set(only) == {"store", "key", "ignored"}, name
        assert only["ignored"].startswith(f"{name} changes no content"), only
        assert "ObjectRemoved:*" in only["ignored"]
        assert rag.documents.get("oncall.md") is not None, name
    assert rag.vectors.count(rag.collection) == 1


@pytest.mark.parametrize(
    "name",
    ["ObjectRemoved:Delete", "ObjectRemoved:DeleteMarkerCreated", "LifecycleExpiration:Delete",
     "LifecycleExpiration:DeleteMarkerCreated"],
)  # fmt: skip
def test_removals_and_lifecycle_expirations_remove(bucket: Any, name: str) -> None:
    bucket.put_object(Bucket="handbook", Key="oncall.md", Body=BODY)
    lambda_handler({"Records": [s3_record("handbook", "oncall.md")]})
    result = lambda_handler({"Records": [s3_record("handbook", "oncall.md", name)]})
    assert result["results"][0]["removed"] is True
    assert handlers.engine().documents.get("oncall.md") is None


def test_a_vanished_object_or_an_unsupported_type_is_a_result_not_a_retry(bucket: Any) -> None:
    bucket.put_object(Bucket="handbook", Key="tool.exe", Body=b"MZ")
    batch = {
        "Records": [
            sqs_message("gone", {"Records": [s3_record("handbook", "gone.md")]}),
            sqs_message("exe", {"Records": [s3_record("handbook", "tool.exe")]}),
        ]
    }
    answer = lambda_handler(batch)
    assert answer["batchItemFailures"] == []
    gone, exe = answer["results"]
    assert "does not exist" in gone["error"]
    assert exe["indexed"] == 0
    assert exe["unsupported"] == ["tool.exe"]
    direct = lambda_handler({"Records": [s3_record("handbook", "gone.md")]})
    assert "error" in direct["results"][0]


def test_s3_unreachable_over_sqs_fails_only_that_message(s3_down: None, set_aside: None) -> None:
    batch = {
        "Records": [
            sqs_message("upload", {"Records": [s3_record("handbook", "new.md")]}),
            sqs_message("test", TEST_EVENT),
            sqs_message("delete", {"Records": [s3_record("handbook", "never.md", False)]}),
            sqs_message("poison", "{not json"),
        ]
    }
    answer = lambda_handler(batch)
    assert answer["batchItemFailures"] == [{"itemIdentifier": "upload"}]
    assert [r.get("ignored", "")[:13] for r in answer["results"]] == ["s3:TestEvent:", ""]
    assert answer["results"][1]["removed"] is False
    assert [a["messageId"] for a in answer["setAside"]] == ["poison"]


def test_a_read_that_fails_for_a_moment_after_the_head_is_retried_not_skipped(
    bucket: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from skybridge.backends.objects.base import ObjectStore

    bucket.put_object(Bucket="handbook", Key="oncall.md", Body=BODY)

    def flaky(self: Any, key: str) -> bytes:
        raise TransientError("S3 GetObject timed out")

    batch = {"Records": [sqs_message("m1", {"Records": [s3_record("handbook", "oncall.md")]})]}
    with monkeypatch.context() as failing:
        failing.setattr(ObjectStore, "get", flaky)
        with pytest.raises(TransientError, match="timed out"):
            lambda_handler({"Records": [s3_record("handbook", "oncall.md")]})
        assert lambda_handler(batch)["batchItemFailures"] == [{"itemIdentifier": "m1"}]
    assert lambda_handler(batch)["results"][0]["indexed"] == 1  # delivered again: indexed


def test_s3_unreachable_on_a_direct_invoke_raises_for_lambda_to_retry(s3_down: None) -> None:
    with pytest.raises(TransientError, match="unreachable"):
        lambda_handler({"Records": [s3_record("handbook", "new.md")]})


def test_vectors_backend_unreachable_fails_the_messages_that_need_it(
    vectors_down: None, set_aside: None
) -> None:
    batch = {
        "Records": [
            sqs_message("delete", {"Records": [s3_record("handbook", "a.md", False)]}),
            sqs_message(
                "tagging", {"Records": [s3_record("handbook", "a.md", "ObjectTagging:Put")]}
            ),
            sqs_message("test", TEST_EVENT),
            sqs_message("bad", {"Records": [{"eventSource": "aws:s3", "s3": {"object": {}}}]}),
        ]
    }
    answer = lambda_handler(batch)
    assert answer["batchItemFailures"] == [{"itemIdentifier": "delete"}]
    assert len(answer["results"]) == 2
    assert all("ignored" in r for r in answer["results"])
    assert [a["messageId"] for a in answer["setAside"]] == ["bad"]
    with pytest.raises(TransientError, match="PostgreSQL"):
        lambda_handler({"Records": [s3_record("handbook", "a.md", False)]})
    with pytest.raises(TransientError):
        oci_handler(None, json.dumps(oci_event("deleteobject")))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "body is not JSON"),
        ("", "body is not JSON"),
        (None, "body is missing or not text"),
        ('"just text"', "expected an S3 event notification"),
        ('{"Records": {"s3": 1}}', "Records is not a list"),
        (json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {}}}]}),
         "Records[0].s3.bucket.name is missing"),
        (json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}),
         "Records[0].s3.bucket.name is missing"),
        (json.dumps({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": 7}}}]}),
         "Records[0].s3.object.key is missing or not text"),
        (json.dumps({"Type": "Notification", "Message": "{oops"}), "the SNS Message is not JSON"),
    ],
)  # fmt: skip
def test_a_poison_message_fails_alone_for_the_dead_letter_queue(
    workdir: Path, body: Any, reason: str
) -> None:
    ok = sqs_message("ok", TEST_EVENT)
    bad = {**sqs_message("bad", "x"), "body": body}
    with capture_logs() as logs:
        answer = lambda_handler({"Records": [ok, bad]})
    assert answer["batchItemFailures"] == [{"itemIdentifier": "bad"}]
    assert answer["results"][0]["ignored"].startswith("s3:TestEvent")
    assert answer["setAside"] == []
    (logged,) = [line for line in logs if line["event"] == "rag.sqs_message_malformed"]
    assert logged["message_id"] == "bad"
    assert "body" in logged
    assert logged["error_type"] == "MalformedEvent"
    assert reason in logged["reason"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [("{not json", "body is not JSON"), ('{"Records": {"s3": 1}}', "Records is not a list")],
)
def test_a_poison_message_is_set_aside_by_name_and_the_batch_goes_on(
    set_aside: None, body: Any, reason: str
) -> None:
    ok = sqs_message("ok", TEST_EVENT)
    bad = {**sqs_message("bad", "x"), "body": body}
    answer = lambda_handler({"Records": [ok, bad]})
    assert answer["batchItemFailures"] == []
    assert answer["results"][0]["ignored"].startswith("s3:TestEvent")
    (aside,) = answer["setAside"]
    assert aside["messageId"] == "bad"
    assert aside["error"] == "MalformedEvent"
    assert reason in aside["reason"]


MALFORMED_DIRECT = (None, [1], {"Records": [{"eventSource": "aws:s3", "s3": {}}]})


def test_a_malformed_direct_event_raises_for_the_on_failure_destination(workdir: Path) -> None:
    for event in MALFORMED_DIRECT:
        with capture_logs() as logs, pytest.raises(MalformedEvent):
            lambda_handler(event)
        assert [e["event"] for e in logs] == ["rag.event_malformed"]


def test_a_malformed_direct_event_is_set_aside_when_so_configured(set_aside: None) -> None:
    for event in MALFORMED_DIRECT:
        answer = lambda_handler(event)
        assert answer["results"] == []
        assert answer["setAside"][0]["error"] == "MalformedEvent"


def test_s3_test_event_and_non_s3_events_are_ignored_with_the_reason(workdir: Path) -> None:
    (found,) = s3_events(TEST_EVENT)
    assert found.ignored.startswith("s3:TestEvent")
    assert found.store == "s3://handbook"
    assert s3_events({})[0].ignored == "not an S3 event notification (no Records, no detail)"
    assert lambda_handler(TEST_EVENT)["results"][0]["ignored"].startswith("s3:TestEvent")


def test_sns_wrapped_notifications_directly_and_through_sqs() -> None:
    note = json.dumps({"Records": [s3_record("kb", "a b+c.md")]})
    direct = {
        "Records": [{"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": note}}]
    }
    assert s3_events(direct) == [ObjectEvent("s3://kb", "a b+c.md", True)]
    envelope = {"Type": "Notification", "TopicArn": "arn:aws:sns:us-east-1:1:t", "Message": note}
    assert s3_events(envelope) == [ObjectEvent("s3://kb", "a b+c.md", True)]


def test_eventbridge_shapes() -> None:
    def bridge(kind: str, key: str = "a.md") -> dict[str, Any]:
        return {
            "version": "0",
            "source": "aws.s3",
            "detail-type": kind,
            "detail": {"version": "0", "bucket": {"name": "b"}, "object": {"key": key}},
        }

    assert s3_events(bridge("Object Created")) == [ObjectEvent("s3://b", "a.md", True)]
    encoded = bridge("Object Created", "notes/red+flower%2B1.md")
    assert s3_events(encoded) == [ObjectEvent("s3://b", "notes/red flower+1.md", True)]
    assert s3_events(bridge("Object Deleted")) == [ObjectEvent("s3://b", "a.md", False)]
    for kind in ("Object Tags Added", "Object Restore Completed", "Object Storage Class Changed"):
        (found,) = s3_events(bridge(kind))
        assert found.ignored.startswith(f"'{kind}' changes no content"), found


def oci_event(action: str, **data: Any) -> dict[str, Any]:
    return {
        "eventType": f"com.oraclecloud.objectstorage.{action}",
        "cloudEventsVersion": "0.1",
        "eventTypeVersion": "2.0",
        "source": "ObjectStorage",
        "eventTime": "2025-01-01T12:00:00Z",
        "contentType": "application/json",
        "data": {
            "compartmentId": "ocid1.compartment.oc1..x",
            "resourceName": "docs/x.pdf",
            "resourceId": "/n/ns1/b/kb/o/docs/x.pdf",
            "additionalDetails": {"bucketName": "kb", "namespace": "ns1", "eTag": "e1"},
            **data,
        },
        "eventID": "ev-1",
    }


def test_oci_event_shapes() -> None:
    assert oci_events(oci_event("createobject")) == [
        ObjectEvent("oci://kb@ns1", "docs/x.pdf", True)
    ]
    assert oci_events(oci_event("updateobject"))[0].created is True
    assert oci_events(oci_event("deleteobject")) == [
        ObjectEvent("oci://kb@ns1", "docs/x.pdf", False)
    ]
    assert "changes no object" in oci_events(oci_event("createbucket"))[0].ignored
    launch = {"eventType": "com.oraclecloud.computeapi.launchinstance"}
    assert "not an Object Storage event" in oci_events(launch)[0].ignored


def test_the_oci_handler_reads_bytes_and_answers_json(workdir: Path) -> None:
    event = oci_event("deleteobject", resourceName="never-indexed.md")
    answer = json.loads(oci_handler(None, json.dumps(event).encode()))
    assert answer == {
        "results": [{"store": "oci://kb@ns1", "key": "never-indexed.md", "removed": False}]
    }


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{x", "not JSON"),
        (b"", "empty"),
        (None, "empty"),
        (json.dumps(oci_event("createobject", additionalDetails={})).encode(), "bucketName"),
        (json.dumps(oci_event("createobject", resourceName=None)).encode(), "data.resourceName"),
    ],
)
def test_the_oci_handler_fails_on_malformed_events(workdir: Path, data: Any, reason: str) -> None:
    with pytest.raises(MalformedEvent, match=reason.replace(".", r"\.")):
        oci_handler(None, data)


def test_the_oci_handler_sets_malformed_events_aside_when_so_configured(set_aside: None) -> None:
    answer = json.loads(oci_handler(None, b"{x"))
    assert answer["results"] == []
    assert answer["setAside"][0]["error"] == "MalformedEvent"
    assert "not JSON" in answer["setAside"][0]["reason"]

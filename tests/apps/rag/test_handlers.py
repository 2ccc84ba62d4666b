"""Upload events: S3 (direct, SQS, EventBridge) against the moto server; OCI event shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from skybridge.apps.rag import handlers
from skybridge.apps.rag.answers import query
from skybridge.apps.rag.handlers import (
    ObjectEvent,
    lambda_handler,
    oci_events,
    oci_handler,
    s3_events,
)

pytestmark = pytest.mark.moto


def s3_record(bucket: str, key: str, created: bool = True) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put" if created else "ObjectRemoved:Delete",
        "s3": {"bucket": {"name": bucket}, "object": {"key": key.replace(" ", "+")}},
    }


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


def test_an_upload_is_indexed_and_a_delete_removes_it(bucket: Any) -> None:
    bucket.put_object(
        Bucket="handbook",
        Key="ops/on call.md",
        Body=b"# On call\n\nPages are acknowledged within ten minutes.",
    )
    result = lambda_handler({"Records": [s3_record("handbook", "ops/on call.md")]})
    assert result["results"][0]["indexed"] == 1
    rag = handlers.engine()
    assert query(rag, "acknowledge pages", record=False).hits[0].document == "ops/on call.md"
    bucket.delete_object(Bucket="handbook", Key="ops/on call.md")
    sqs = {
        "Records": [
            {
                "eventSource": "aws:sqs",
                "body": json.dumps({"Records": [s3_record("handbook", "ops/on call.md", False)]}),
            }
        ]
    }
    assert lambda_handler(sqs)["results"][0]["removed"] is True
    assert rag.documents.get("ops/on call.md") is None
    assert rag.vectors.count(rag.collection) == 0


def test_a_vanished_object_is_reported_not_raised(bucket: Any) -> None:
    result = lambda_handler({"Records": [s3_record("handbook", "gone.md")]})
    assert "error" in result["results"][0]


def test_eventbridge_and_oci_event_shapes() -> None:
    bridge = {
        "source": "aws.s3",
        "detail-type": "Object Created",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "a.md"}},
    }
    assert s3_events(bridge) == [ObjectEvent("s3://b", "a.md", True)]
    oci = {
        "eventType": "com.oraclecloud.objectstorage.deleteobject",
        "data": {
            "resourceName": "docs/x.pdf",
            "additionalDetails": {"bucketName": "kb", "namespace": "ns1"},
        },
    }
    assert oci_events(oci) == [ObjectEvent("oci://kb@ns1", "docs/x.pdf", False)]
    assert oci_events({"eventType": "com.oraclecloud.computeapi.launchinstance"}) == []


def test_the_oci_handler_reads_bytes_and_answers_json(workdir: Path) -> None:
    event = {
        "eventType": "com.oraclecloud.objectstorage.deleteobject",
        "data": {
            "resourceName": "never-indexed.md",
            "additionalDetails": {"bucketName": "kb", "namespace": "ns1"},
        },
    }
    answer = json.loads(oci_handler(None, json.dumps(event).encode()))
    assert answer == {
        "results": [{"store": "oci://kb@ns1", "key": "never-indexed.md", "removed": False}]
    }

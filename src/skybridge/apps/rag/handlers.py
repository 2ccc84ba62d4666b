"""Cloud entry points: index an object when it is uploaded, drop it when it is deleted.

* ``lambda_handler(event, context)``: AWS Lambda with S3 event notifications, delivered
  directly, through SQS (``Records[].body`` holding the S3 event) or through EventBridge
  (``detail-type`` ``Object Created`` / ``Object Deleted``).
* ``oci_handler(ctx, data)``: OCI Functions with Object Storage events (CloudEvents
  ``com.oraclecloud.objectstorage.createobject`` / ``updateobject`` / ``deleteobject``); ``data``
  is bytes, text, a byte stream or a dict; returns JSON text.

Document ids are the object keys (the whole bucket is the source), so an upload replaces the
document of the same key atomically and a delete removes its chunks. The engine is built once
per container from the settings (``SKYBRIDGE__RAG__*``, ``SKYBRIDGE__BACKENDS__VECTORS``...).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.rag.ingest import ingest_object, remove_document
from skybridge.apps.rag.manifest import APP
from skybridge.apps.rag.service import Rag, shared_rag
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class ObjectEvent:
    """An object that was written (``created``) or deleted, in a store URL."""

    store: str
    key: str
    created: bool


def engine() -> Rag:
    return shared_rag(AppContext.create(APP, load_settings([APP])))


def s3_events(event: dict[str, Any]) -> list[ObjectEvent]:
    """Object events in an S3 notification, an SQS batch of them, or an EventBridge event."""
    if event.get("source") == "aws.s3" and "detail" in event:
        detail = event["detail"]
        return [
            ObjectEvent(
                f"s3://{detail['bucket']['name']}",
                detail["object"]["key"],
                event.get("detail-type") != "Object Deleted",
            )
        ]
    found: list[ObjectEvent] = []
    for record in event.get("Records", []):
        if record.get("eventSource") == "aws:sqs":
            found += s3_events(json.loads(record.get("body") or "{}"))
            continue
        s3 = record.get("s3")
        if not s3:
            continue
        found.append(
            ObjectEvent(
                f"s3://{s3['bucket']['name']}",
                unquote_plus(s3["object"]["key"]),
                str(record.get("eventName", "")).startswith("ObjectCreated"),
            )
        )
    return found


def oci_events(event: dict[str, Any]) -> list[ObjectEvent]:
    """The object of an OCI Object Storage CloudEvent."""
    kind = str(event.get("eventType", ""))
    data = event.get("data") or {}
    details = data.get("additionalDetails") or {}
    if not kind.startswith("com.oraclecloud.objectstorage.") or "resourceName" not in data:
        return []
    store = f"oci://{details['bucketName']}@{details['namespace']}"
    return [ObjectEvent(store, data["resourceName"], not kind.endswith("deleteobject"))]


def apply(rag: Rag, events: list[ObjectEvent]) -> list[dict[str, Any]]:
    """Index or remove each object; one result per event (errors reported, not raised)."""
    results = []
    params = rag.config.event_url_params.lstrip("?")
    for ev in events:
        try:
            if ev.created:
                store = f"{ev.store}?{params}" if params else ev.store
                report = ingest_object(rag, store, ev.key)
                outcome = {"indexed": report.chunks, "skipped": report.skipped}
            else:
                entry = rag.documents.get(ev.key)
                if entry is not None:
                    remove_document(rag, entry)
                outcome = {"removed": entry is not None}
        except SkybridgeError as exc:
            log.warning("rag.event_failed", store=ev.store, key=ev.key, reason=str(exc))
            outcome = {"error": str(exc)}
        results.append({"store": ev.store, "key": ev.key, **outcome})
    return results


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda: S3 notifications (direct, via SQS or EventBridge)."""
    return {"results": apply(engine(), s3_events(event))}


def oci_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions (fdk-style): an Object Storage event; returns JSON text."""
    if hasattr(data, "read"):
        data = data.read()
    if isinstance(data, bytes | bytearray):
        data = data.decode()
    event = json.loads(data) if isinstance(data, str) and data.strip() else (data or {})
    return json.dumps({"results": apply(engine(), oci_events(event))})

"""Cloud entry points: index an object when it is uploaded, drop it when it is deleted.

* ``lambda_handler(event, context)``: AWS Lambda with S3 event notifications, delivered
  directly, through SNS, through SQS (``Records[].body`` holding the S3 event, or the SNS
  envelope of one) or through EventBridge (``detail-type`` ``Object Created`` / ``Object
  Deleted``). Only ``ObjectCreated:*`` indexes; only ``ObjectRemoved:*`` and
  ``LifecycleExpiration:*`` remove. Every other event (tagging, ACL, restore, lifecycle
  transition, replication, Intelligent-Tiering, ``s3:TestEvent``...) changes nothing and is
  reported as ``ignored`` with the reason.
* ``oci_handler(ctx, data)``: OCI Functions with Object Storage events (CloudEvents
  ``com.oraclecloud.objectstorage.createobject`` / ``updateobject`` index, ``deleteobject``
  removes, other Object Storage events are ignored); ``data`` is bytes, text, a byte stream or a
  dict; returns JSON text.

Failures: a transient one (S3, Object Storage or the vectors backend unreachable) is never
swallowed. Over SQS the message is named in ``batchItemFailures`` (set
``ReportBatchItemFailures`` on the event source mapping) so SQS redelivers it and, after the
queue's ``maxReceiveCount``, moves it to its dead-letter queue; a direct invoke raises, so
Lambda (or the OCI Events service) retries it. A message that is no S3 notification at all
(bad JSON, no bucket or key) is a poison message. With ``rag.malformed_messages =
"dead_letter"`` (the default) it fails like a transient one, alone (over SQS it is named in
``batchItemFailures`` and the queue's redrive policy keeps it in its dead-letter queue; a
direct invoke raises :class:`MalformedEvent`), so it is kept where the platform keeps failed
deliveries; with ``"set_aside"`` it is answered under ``setAside`` with a named error and
logged (``rag.message_set_aside``), and nothing delivers it again. It never fails the other
messages of its batch. A document that cannot be indexed (gone again, unreadable) is a result
with its ``error``, not a retry.

Document ids are the object keys (the whole bucket is the source), so an upload replaces the
document of the same key atomically and a delete removes its chunks. S3 keys arrive URL-encoded
(``red+flower.md`` for ``red flower.md``), in notifications and EventBridge events alike, and
are decoded. The engine is built once per
container from the settings (``SKYBRIDGE__RAG__*``, ``SKYBRIDGE__BACKENDS__VECTORS``...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.functions import failed_message, function_payload
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.rag.ingest import ingest_object, remove_document
from skybridge.apps.rag.manifest import APP
from skybridge.apps.rag.service import Rag, shared_rag
from skybridge.core.errors import SkybridgeError, TransientError, ValidationError, shown
from skybridge.core.observability import get_logger

log = get_logger(__name__)

#: What the S3 event names (``eventName`` without ``s3:``) mean for the index.
_S3_RULE = "only ObjectCreated:* indexes; ObjectRemoved:* and LifecycleExpiration:* remove"
_BRIDGE_RULE = "only 'Object Created' indexes and 'Object Deleted' removes"
_OCI_RULE = "only createobject and updateobject index; deleteobject removes"
#: Errors worth a retry: the project's own, and connections a backend did not translate.
_TRANSIENT = (TransientError, ConnectionError, TimeoutError)


class MalformedEvent(ValidationError):
    """The event (or SQS message) is no storage event notification: set aside, never retried."""


@dataclass(frozen=True)
class ObjectEvent:
    """An object that was written (``created``) or deleted, in a store URL.

    ``ignored`` says why the event changes nothing in the index (empty when it does)."""

    store: str
    key: str
    created: bool
    ignored: str = ""

    def result(self, **outcome: Any) -> dict[str, Any]:
        return {"store": self.store, "key": self.key, **outcome}


def _context() -> AppContext[Any]:
    return AppContext.create(APP, load_settings([APP]))


def engine() -> Rag:
    return shared_rag(_context())


def _keeps_malformed() -> bool:
    """Whether a malformed message fails (``dead_letter``) rather than being set aside."""
    return bool(_context().config.malformed_messages == "dead_letter")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{where} is missing or not text")
    return value


def _location(holder: Any, where: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``{"bucket": {"name"}, "object": {"key"}}``."""
    if not isinstance(holder, Mapping):
        raise MalformedEvent(f"{where} is missing or not an object")
    bucket, obj = holder.get("bucket"), holder.get("object")
    name = bucket.get("name") if isinstance(bucket, Mapping) else None
    key = obj.get("key") if isinstance(obj, Mapping) else None
    return _text(name, f"{where}.bucket.name"), _text(key, f"{where}.object.key")


def _s3_record(record: Any, where: str) -> ObjectEvent:
    if not isinstance(record, Mapping):
        raise MalformedEvent(f"{where} is not an object")
    bucket, key = _location(record.get("s3"), f"{where}.s3")
    store, key = f"s3://{bucket}", unquote_plus(key)
    name = str(record.get("eventName") or "").removeprefix("s3:")
    if name.startswith("ObjectCreated:"):
        return ObjectEvent(store, key, True)
    if name.startswith(("ObjectRemoved:", "LifecycleExpiration:")):
        return ObjectEvent(store, key, False)
    return ObjectEvent(
        store, key, False, f"{name or 'no eventName'} changes no content; {_S3_RULE}"
    )


def _records(records: list[Any]) -> list[ObjectEvent]:
    found: list[ObjectEvent] = []
    for n, record in enumerate(records):
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        if isinstance(sns, Mapping):  # S3 -> SNS -> Lambda: the notification is the message
            found += s3_events(_json(sns.get("Message"), f"Records[{n}].Sns.Message"))
        else:
            found.append(_s3_record(record, f"Records[{n}]"))
    return found


def _bridge(event: Mapping[str, Any]) -> ObjectEvent:
    bucket, key = _location(event.get("detail"), "detail")
    key = unquote_plus(key)  # encoded as in S3 notifications (AWS Lambda Powertools decodes it)
    kind = str(event.get("detail-type") or "")
    if kind in ("Object Created", "Object Deleted"):
        return ObjectEvent(f"s3://{bucket}", key, kind == "Object Created")
    return ObjectEvent(f"s3://{bucket}", key, False, f"'{kind}' changes no content; {_BRIDGE_RULE}")


def s3_events(event: Any) -> list[ObjectEvent]:
    """Object events in an S3 notification (direct, SNS-wrapped) or an EventBridge event.

    Raises:
        MalformedEvent: ``event`` is no S3 notification (no bucket or key, records not a list).
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent(
            f"expected an S3 event notification (a JSON object), got {shown(event)}"
        )
    if event.get("source") == "aws.s3" and "detail" in event:
        return [_bridge(event)]
    if event.get("Type") == "Notification" and "Message" in event:  # SNS envelope in SQS
        return s3_events(_json(event["Message"], "the SNS Message"))
    if event.get("Event") == "s3:TestEvent":
        store = f"s3://{event.get('Bucket') or ''}"
        return [ObjectEvent(store, "", False, "s3:TestEvent: S3 checks a new notification target")]
    records = event.get("Records")
    if records is None:
        return [ObjectEvent("", "", False, "not an S3 event notification (no Records, no detail)")]
    if not isinstance(records, list):
        raise MalformedEvent("Records is not a list")
    return _records(records)


def _json(body: Any, where: str) -> Any:
    if isinstance(body, bytes | bytearray):
        try:
            body = bytes(body).decode()
        except UnicodeDecodeError:
            raise MalformedEvent(f"{where} is not UTF-8 text") from None
    if not isinstance(body, str):
        raise MalformedEvent(f"{where} is missing or not text")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedEvent(f"{where} is not JSON: {exc}") from None


def oci_events(event: Any) -> list[ObjectEvent]:
    """The object of an OCI Object Storage CloudEvent (ignored events carry the reason).

    Raises:
        MalformedEvent: an object event without ``resourceName``, bucket or namespace.
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"expected an OCI event (a JSON object), got {shown(event)}")
    kind = str(event.get("eventType") or "")
    if not kind.startswith("com.oraclecloud.objectstorage."):
        return [ObjectEvent("", "", False, f"'{kind}' is not an Object Storage event")]
    data = event.get("data")
    data = data if isinstance(data, Mapping) else {}
    details = data.get("additionalDetails")
    details = details if isinstance(details, Mapping) else {}
    action = kind.rsplit(".", 1)[-1]
    if action not in ("createobject", "updateobject", "deleteobject"):
        return [ObjectEvent("", "", False, f"'{kind}' changes no object; {_OCI_RULE}")]
    bucket = _text(details.get("bucketName"), "data.additionalDetails.bucketName")
    namespace = _text(details.get("namespace"), "data.additionalDetails.namespace")
    key = _text(data.get("resourceName"), "data.resourceName")
    return [ObjectEvent(f"oci://{bucket}@{namespace}", key, action != "deleteobject")]


def apply(rag: Rag | None, events: list[ObjectEvent]) -> list[dict[str, Any]]:
    """Index or remove each object; one result per event.

    ``rag`` ``None`` builds the shared engine, and only when an event needs it (ignored events
    need none). Permanent errors (the object is gone again, the index refuses) are results
    with an ``error``; transient ones are raised, for the event to be delivered again.
    """
    results = []
    for ev in events:
        if ev.ignored:
            log.info("rag.event_ignored", store=ev.store, key=ev.key, reason=ev.ignored)
            results.append(ev.result(ignored=ev.ignored))
            continue
        rag = engine() if rag is None else rag
        try:
            outcome = _index(rag, ev) if ev.created else _remove(rag, ev)
        except _TRANSIENT:
            raise
        except SkybridgeError as exc:
            log.warning("rag.event_failed", store=ev.store, key=ev.key, reason=str(exc))
            outcome = {"error": str(exc)}
        results.append(ev.result(**outcome))
    return results


def _index(rag: Rag, ev: ObjectEvent) -> dict[str, Any]:
    params = rag.config.event_url_params.lstrip("?")
    report = ingest_object(rag, f"{ev.store}?{params}" if params else ev.store, ev.key)
    outcome: dict[str, Any] = {"indexed": report.chunks, "skipped": report.skipped}
    if report.ignored:
        outcome["unsupported"] = report.ignored  # of no type indexed (.txt, .md, .html, .pdf)
    return outcome


def _remove(rag: Rag, ev: ObjectEvent) -> dict[str, Any]:
    entry = rag.documents.get(ev.key)
    if entry is not None:
        remove_document(rag, entry)
    return {"removed": entry is not None}


def _log_malformed(event: str, exc: MalformedEvent, body: Any, **ids: Any) -> None:
    """Log a malformed message or event with the start of its body."""
    log.warning(
        event, **ids, error_type=type(exc).__name__, reason=exc.message, body=shown(body, 200)
    )


def _set_aside(message_id: str | None, exc: MalformedEvent, body: Any) -> dict[str, Any]:
    _log_malformed("rag.message_set_aside", exc, body, message_id=message_id)
    found = {"error": type(exc).__name__, "reason": exc.message}
    return {"messageId": message_id, **found} if message_id is not None else found


def _is_sqs(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def _sqs_batch(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    parsed: list[tuple[str, list[ObjectEvent]]] = []
    set_aside: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    keep: bool | None = None  # read from the settings when a message is malformed
    for record in records:
        message_id = str(record.get("messageId") or "")
        body = record.get("body")
        try:
            parsed.append((message_id, s3_events(_json(body, f"SQS message {message_id!r} body"))))
        except MalformedEvent as exc:
            keep = _keeps_malformed() if keep is None else keep
            if keep:  # SQS delivers it again, then moves it to the queue's dead-letter queue
                _log_malformed("rag.sqs_message_malformed", exc, body, message_id=message_id)
                failures.append({"itemIdentifier": message_id})
            else:
                set_aside.append(_set_aside(message_id, exc, body))
    rag: Rag | None = None
    down: Exception | None = None
    if any(not ev.ignored for _, events in parsed for ev in events):
        try:
            rag = engine()
        except Exception as exc:  # the vectors backend is down: every message that needs it fails
            down = exc
    results: list[dict[str, Any]] = []
    for message_id, events in parsed:
        try:
            if down is not None and any(not ev.ignored for ev in events):
                raise down
            results += apply(rag, events)
        except Exception as exc:  # transient, or a bug: SQS redelivers, then dead-letters
            failures.append(failed_message(log, "rag.sqs_message_failed", message_id, exc))
    return {"batchItemFailures": failures, "results": results, "setAside": set_aside}


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """AWS Lambda: S3 notifications (direct, via SNS, SQS or EventBridge).

    Raises:
        TransientError: (direct invoke only) a backend was unreachable; Lambda retries.
        MalformedEvent: (direct invoke only, ``rag.malformed_messages = "dead_letter"``) the
            event is no S3 notification; Lambda's on-failure destination keeps it.
    """
    if _is_sqs(event):
        return _sqs_batch(list(event["Records"]))
    try:
        events = s3_events(event)
    except MalformedEvent as exc:
        if _keeps_malformed():
            _log_malformed("rag.event_malformed", exc, event)
            raise
        return {"results": [], "setAside": [_set_aside(None, exc, event)]}
    return {"results": apply(None, events)}


def oci_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions (fdk-style): an Object Storage event; returns JSON text.

    Raises:
        TransientError: Object Storage or the vectors backend was unreachable.
        MalformedEvent: (``rag.malformed_messages = "dead_letter"``) the body is no Object
            Storage event; the function's invocation fails with the reason.
    """
    body = function_payload(data)
    try:
        if body is None or (isinstance(body, str | bytes | bytearray) and not body.strip()):
            raise MalformedEvent("the request body is empty")
        text = isinstance(body, str | bytes | bytearray)
        events = oci_events(_json(body, "the request body") if text else body)
    except MalformedEvent as exc:
        if _keeps_malformed():
            _log_malformed("rag.event_malformed", exc, body)
            raise
        return json.dumps({"results": [], "setAside": [_set_aside(None, exc, body)]})
    return json.dumps({"results": apply(None, events)})

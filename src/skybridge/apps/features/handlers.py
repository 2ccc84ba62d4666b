"""Cloud entry points: the feature pipeline's code as an AWS Lambda (Kinesis trigger) and an
OCI Function (OCI Streaming through a Service Connector).

* ``lambda_handler(event, context)``: a Kinesis batch (``Records[].kinesis``). Answers
  ``{"batchItemFailures": [...]}`` naming the first record not applied when a store fails, so
  set ``ReportBatchItemFailures`` on the event source mapping: Lambda retries from there, and
  the guarded writes make the records already applied a no-op. Malformed events are set
  aside as dead letters (see :mod:`.ingest`), never retried.
* ``oci_handler(ctx, data)``: a list of OCI Streaming messages (``stream``, ``partition``,
  ``offset``, base64 ``key``/``value``, ``timestamp`` in ms) as a Service Connector delivers
  them; returns JSON text, and raises when a store fails so the connector delivers again.

The store is opened once per container from the settings (``SKYBRIDGE__FEATURES__*``,
``SKYBRIDGE__BACKENDS__*``) and reused across warm invocations.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from contextlib import ExitStack
from typing import Any

from skybridge.apps.features.definitions import by_topic
from skybridge.apps.features.ingest import IngestResult, apply_records
from skybridge.apps.features.manifest import APP
from skybridge.apps.features.store import FeatureStore, open_store
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.functions import function_payload
from skybridge.apps.kit.settings import load_settings
from skybridge.backends.streams import Record
from skybridge.core.errors import ConfigError, TransientError, ValidationError

_store: FeatureStore | None = None
_resources = ExitStack()


def use_store(store: FeatureStore | None) -> None:
    """Install the store the handlers use (tests, or callers that build their own)."""
    global _store
    _store = store


def get_store() -> FeatureStore:
    global _store
    if _store is None:
        ctx = AppContext.create(APP, load_settings([APP]))
        _store = _resources.enter_context(open_store(ctx, model=False, streams=False))
    return _store


def kinesis_record(item: Mapping[str, Any], strip_prefix: str = "") -> Record:
    """One record of a Lambda Kinesis event as a stream :class:`Record`."""
    try:
        data = item["kinesis"]
        stream = str(item["eventSourceARN"]).rsplit("/", 1)[-1]
        shard = str(item["eventID"]).split(":", 1)[0]
        partition = int(shard.rsplit("-", 1)[-1])
        return Record(
            stream.removeprefix(strip_prefix),
            partition,
            int(data["sequenceNumber"]),
            str(data["partitionKey"]).encode(),
            base64.b64decode(data["data"]),
            (),
            float(data.get("approximateArrivalTimestamp") or 0.0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(f"not a Kinesis event record: {type(exc).__name__}: {exc}") from None


def _apply(store: FeatureStore, records: list[Record]) -> IngestResult:
    """Apply ``records``, all of which must come from a stream some view reads.

    Raises:
        ConfigError: a record from a stream no view reads: the deployment names the wrong
            stream or the view the wrong topic. Nothing is applied, so the records stay on the
            stream (Lambda and the connector retry) until the settings are fixed.
    """
    topics = by_topic(store.views)
    if unread := sorted({r.topic for r in records} - set(topics)):
        raise ConfigError(
            f"no feature view reads the stream {', '.join(map(repr, unread))}: views read "
            f"{', '.join(map(repr, sorted(topics))) or 'nothing'}",
            setting="features.views",
            hint="set the view's topic to the stream's name; the records stay on the stream",
        )
    return apply_records(store, records)


def lambda_handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point for a Kinesis event source mapping."""
    items = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(items, list):
        raise ValidationError("expected a Kinesis event with Records")
    records = [kinesis_record(item) for item in items]
    result = _apply(get_store(), records)
    failures = []
    if result.failed_from is not None:
        failures.append({"itemIdentifier": str(result.failed_from.offset)})
    return {"batchItemFailures": failures, **result.to_dict()}


def oci_record(item: Any) -> Record:
    """One OCI Streaming message, as a Service Connector delivers it."""
    if not isinstance(item, Mapping):
        raise ValidationError(f"not an OCI Streaming message: a JSON {type(item).__name__}")
    try:
        key = item.get("key")
        return Record(
            str(item["stream"]),
            int(item.get("partition") or 0),
            int(item["offset"]),
            base64.b64decode(key) if key else None,
            base64.b64decode(item["value"]),
            (),
            float(item.get("timestamp") or 0) / 1000.0,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationError(
            f"not an OCI Streaming message: {type(exc).__name__}: {exc}"
        ) from None


def _messages(data: Any) -> list[Mapping[str, Any]]:
    data = function_payload(data)
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data or "[]")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ValidationError(f"the body is not JSON: {exc}") from None
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise ValidationError("expected a list of OCI Streaming messages")
    return data


def oci_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions entry point (fdk-style ``handler(ctx, data)``); returns JSON text."""
    records = [oci_record(m) for m in _messages(data)]
    result = _apply(get_store(), records)
    if result.failed_from is not None:
        raise TransientError(result.error or "a store failed", hint="the connector retries")
    return json.dumps(result.to_dict())

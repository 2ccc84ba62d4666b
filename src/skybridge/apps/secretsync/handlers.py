"""Cloud entry points: thin adapters over :class:`~skybridge.apps.secretsync.SecretSync`.

* ``lambda_handler(event, context)``: AWS Lambda. Accepts an EventBridge event (sync), an SQS
  batch of EventBridge events (answers ``batchItemFailures`` so only failed messages are
  redelivered; set ``ReportBatchItemFailures`` on the event source mapping), or
  ``{"action": "reconcile" | "replay"}`` / an EventBridge ``Scheduled Event`` (reconcile).
* ``reconcile_handler(event, context)``: the scheduled reconcile (``{"dry_run": true}`` plans,
  ``{"full": true}`` reads every target instead of those the change feed names).
* ``oci_handler(ctx, data)``: OCI Functions, fdk-style without depending on fdk: ``data`` is a
  byte stream, bytes, text or a dict; returns JSON text (wrap it in ``fdk.response.Response``).
  An empty body, ``{"action": "reconcile"}`` or an alarm/notification message reconciles.

Action options are validated as the HTTP routes validate their bodies (the models of
:mod:`skybridge.apps.secretsync.actions`): ``dry_run`` and ``full`` are JSON booleans (default
``false`` here: a scheduled reconcile repairs), ``replay`` takes ``{"letter_ids": [...]}`` or
``{"all": true}``. A bad option raises :class:`~skybridge.core.errors.ValidationError` naming
the field.

The engine is built once per container from the settings (``SKYBRIDGE__SECRETSYNC__*``, see
:mod:`skybridge.apps.secretsync.config`) and reused across warm invocations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.functions import failed_message, function_payload
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.secretsync.actions import ReconcileRequest, ReplayRequest, validate_options
from skybridge.apps.secretsync.engine import SecretSync
from skybridge.apps.secretsync.manifest import APP
from skybridge.apps.secretsync.service import build_service
from skybridge.core.observability import get_logger

log = get_logger(__name__)
_engine: SecretSync | None = None


def use_engine(engine: SecretSync | None) -> None:
    """Install the engine the handlers use (tests, or callers that build their own)."""
    global _engine
    _engine = engine


def engine_from_env() -> SecretSync:
    """A :class:`SecretSync` configured from the environment (and skybridge.toml, if any)."""
    ctx = AppContext.create(APP, load_settings([APP]))
    return build_service(ctx).engine


def get_engine() -> SecretSync:
    global _engine
    if _engine is None:
        _engine = engine_from_env()
    return _engine


def _is_sqs(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records
    )


def _action(event: Mapping[str, Any]) -> str | None:
    action = event.get("action")
    if isinstance(action, str):
        return action
    if event.get("detail-type") == "Scheduled Event" and event.get("source") == "aws.events":
        return "reconcile"
    return None


def _sqs_batch(engine: SecretSync, records: list[Mapping[str, Any]]) -> dict[str, Any]:
    failures = []
    for record in records:
        message_id = record.get("messageId", "")
        try:
            engine.sync_event(record.get("body", ""), on_transient="raise")
        except Exception as exc:
            failures.append(failed_message(log, "secretsync.sqs_message_failed", message_id, exc))
    return {"batchItemFailures": failures}


def _reconcile(engine: SecretSync, options: Mapping[str, Any], what: str) -> dict[str, Any]:
    given = {k: options[k] for k in ("dry_run", "full", "mappings") if k in options}
    body = validate_options(ReconcileRequest, {"dry_run": False, **given}, what=what)
    return engine.reconcile(dry_run=body.dry_run, mappings=body.mappings, full=body.full).to_dict()


def _replay(engine: SecretSync, options: Mapping[str, Any]) -> dict[str, Any]:
    given = {"ids": options["letter_ids"]} if "letter_ids" in options else {}
    if "all" in options:
        given["all"] = options["all"]
    body = validate_options(
        ReplayRequest, given, what="the replay action", names={"ids": "letter_ids"}
    )
    results = engine.replay(None if body.all else list(body.ids or []))
    return {"replayed": [r.to_dict() for r in results]}


def _run_action(engine: SecretSync, action: str, event: Mapping[str, Any]) -> dict[str, Any]:
    if action == "reconcile":
        return _reconcile(engine, event, "the reconcile action")
    if action == "replay":
        return _replay(engine, event)
    if action == "status":
        return {"status": [row.to_dict() for row in engine.status()]}
    return {"error": f"unknown action '{action}'", "hint": "use reconcile, replay or status"}


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """AWS Lambda entry point (see the module docstring)."""
    engine = get_engine()
    if isinstance(event, Mapping):
        if _is_sqs(event):
            return _sqs_batch(engine, list(event["Records"]))
        action = _action(event)
        if action is not None:
            return _run_action(engine, action, event)
    outcomes = engine.sync_event(event)
    return {"outcomes": [o.to_dict() for o in outcomes]}


def reconcile_handler(event: Any = None, context: Any = None) -> dict[str, Any]:
    """Scheduled reconcile (EventBridge Scheduler, OCI alarm, cron)."""
    options = event if isinstance(event, Mapping) else {}
    return _reconcile(get_engine(), options, "the reconcile event")


def _body(data: Any) -> Any:
    data = function_payload(data)
    if data is None:
        return None
    if isinstance(data, bytes | bytearray):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data  # the engine dead-letters it with a reason
    return data


def _is_alarm(body: Mapping[str, Any]) -> bool:
    return "alarmMetaData" in body or "dedupeKey" in body


def oci_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions entry point (fdk-style ``handler(ctx, data)``); returns JSON text."""
    engine = get_engine()
    body = _body(data)
    if body is None or (isinstance(body, Mapping) and _is_alarm(body)):
        result: Any = engine.reconcile().to_dict()
    elif isinstance(body, Mapping) and _action(body) is not None:
        result = _run_action(engine, str(_action(body)), body)
    elif isinstance(body, list):
        result = {"outcomes": [o.to_dict() for e in body for o in engine.sync_event(e)]}
    else:
        result = {"outcomes": [o.to_dict() for o in engine.sync_event(body)]}
    return json.dumps(result, default=str)

"""Cloud entry points: thin adapters over :class:`~skybridge.apps.datasync.service.DataSync`.

* ``step_handler(event, context)``: AWS Lambda, one batch step per call, the Task of the
  exported state machine: ``{"batch": NAME, "batch_id": ID or null, "step": STEP}`` ->
  ``{"batch", "batch_id", "step", "state", "detail"}`` (the first step picks the batch id of
  the last complete window). A transient failure raises ``TransientError`` (Step Functions
  retries it); the step is recorded, so a retry or a new execution resumes it.
* ``publish_handler(event, context)``: AWS Lambda on the application side, the original's
  Kafka producer: ``{"changes": [...]}`` (or one change) -> ``{"published": N}``.
* ``oci_merge_handler(ctx, data)``: OCI Functions, fdk-style: a JSON body ``{"batch", "batch_id"}``
  runs the batch's remaining steps (load and merge on the OCI side); returns JSON text.

Settings come from the environment (``SKYBRIDGE__DATASYNC__*``, ``SKYBRIDGE__BACKENDS__*``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from skybridge.apps.datasync.batchrecord import STEPS
from skybridge.apps.datasync.manifest import APP
from skybridge.apps.datasync.service import DataSync
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.functions import function_payload
from skybridge.apps.kit.settings import load_settings
from skybridge.core.errors import ValidationError


def _context() -> AppContext[Any]:
    return AppContext.create(APP, load_settings([APP]))


def _text(event: Mapping[str, Any], key: str) -> str | None:
    value = event.get(key)
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"{key} must be a string")
    return value


def step_handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """Run one step of a batch (a Task of the exported state machine)."""
    if not isinstance(event, Mapping):
        raise ValidationError('the event must be {"batch": NAME, "batch_id": ID, "step": STEP}')
    name, batch, step = _text(event, "batch"), _text(event, "batch_id"), _text(event, "step")
    if not name or step not in STEPS:
        raise ValidationError(f"the event needs batch and a step among {', '.join(STEPS)}")
    with DataSync.open(_context()) as sync:
        sync.create_tables()
        record = sync.run_batch(name, batch=batch, steps=[step])
    done = record.steps[step]
    return {
        "batch": name,
        "batch_id": record.id,
        "step": step,
        "state": done.state,
        "detail": done.detail,
    }


def publish_handler(event: Mapping[str, Any], context: Any = None) -> dict[str, int]:
    """Publish the event's changes (``{"changes": [...]}`` or one change) to the topic."""
    if not isinstance(event, Mapping):
        raise ValidationError('the event must be a change object or {"changes": [...]}')
    changes = event.get("changes", [event])
    if not isinstance(changes, list):
        raise ValidationError("changes must be a list of change objects")
    with DataSync.open(_context()) as sync:
        return {"published": sync.publish(changes)}


def _body(data: Any) -> Any:
    data = function_payload(data)
    try:
        if isinstance(data, bytes | bytearray):
            data = data.decode()
        if isinstance(data, str):
            return json.loads(data) if data.strip() else {}
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise ValidationError(f'the body is not JSON ({exc}); send {{"batch": NAME}}') from None
    return data or {}


def oci_merge_handler(ctx: Any, data: Any = None) -> str:
    """OCI Functions: run a batch's remaining steps; JSON text of its record."""
    body = _body(data)
    if not isinstance(body, Mapping) or not isinstance(body.get("batch"), str):
        raise ValidationError('the body needs {"batch": NAME, "batch_id": ID}')
    with DataSync.open(_context()) as sync:
        sync.create_tables()
        record = sync.run_batch(body["batch"], batch=_text(body, "batch_id"))
    return json.dumps(record.to_dict(), default=str)

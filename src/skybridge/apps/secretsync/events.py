"""Turning the event shapes that announce a new secret value into one :class:`SecretEvent`.

Accepted shapes (EventBridge envelopes, as delivered to a target):

* ``Secret Label Updated`` (source ``aws.secretsmanager``): native, carries ``detail.versionId``.
  Only ``labelUpdated == AWSCURRENT`` means a new current value; other labels are ignored.
* ``AWS API Call via CloudTrail`` for ``PutSecretValue``, ``UpdateSecret``,
  ``UpdateSecretVersionStage`` (moving AWSCURRENT) and ``RotationSucceeded`` (no version id: the
  handler reads AWSCURRENT). Failed calls (``errorCode``) are ignored. Events from before
  2024-02 spell the ARN ``aRN``.
* ``source = "skybridge.secretsync"``: a manual or local event,
  ``{"detail": {"secret": "...", "versionId": "..."}}`` (used by replays and local backends).

``parse_event`` returns ``None`` for events that are not about a new value, and raises
:class:`ValidationError` for input that cannot be an event at all (a poison message).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from skybridge.core.errors import ValidationError

AWS_SOURCE = "aws.secretsmanager"
LOCAL_SOURCE = "skybridge.secretsync"
LABEL_UPDATED = "Secret Label Updated"
CLOUDTRAIL = "AWS API Call via CloudTrail"
CURRENT_LABEL = "AWSCURRENT"
_CLOUDTRAIL_NAMES = {
    "PutSecretValue",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "RotationSucceeded",
}


@dataclass(frozen=True)
class SecretEvent:
    """A source secret has (probably) a new current version.

    Attributes:
        secret: ARN or name, as the event gives it.
        name: the friendly name when the event carries it.
        version_id: the version that became current; ``None``: read the current one.
        kind: ``label-updated``, the CloudTrail event name, or ``manual``.
        event_id: the EventBridge id, for logs and dead letters.
        time: when the event happened.
        backend: restricts matching to one source backend (manual events only).
    """

    secret: str
    name: str | None = None
    version_id: str | None = None
    kind: str = "manual"
    event_id: str | None = None
    time: datetime | None = None
    backend: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def identifiers(self) -> set[str]:
        """Every way this event names its secret: ARN, name, and the name inside the ARN."""
        found = {self.secret, arn_name(self.secret)}
        if self.name:
            found.add(self.name)
        return found


def arn_name(secret: str) -> str:
    """The secret name inside a Secrets Manager ARN (without the 6-character suffix)."""
    if not secret.startswith("arn:"):
        return secret
    name = secret.split(":secret:", 1)[-1]
    head, dash, suffix = name.rpartition("-")
    return head if dash and len(suffix) == 6 else name


def _time(raw: Mapping[str, Any]) -> datetime | None:
    value = raw.get("time")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _arn(section: Any) -> str | None:
    if not isinstance(section, Mapping):
        return None
    for key in ("arn", "aRN", "ARN"):
        if isinstance(section.get(key), str):
            return str(section[key])
    return None


def _label_updated(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> SecretEvent | None:
    if detail.get("labelUpdated") != CURRENT_LABEL:
        return None
    resources = raw.get("resources") or []
    arn = resources[0] if resources and isinstance(resources[0], str) else None
    name = detail.get("name")
    secret = arn or name
    if not isinstance(secret, str):
        raise ValidationError("Secret Label Updated event names no secret (resources, detail.name)")
    return SecretEvent(
        secret=secret,
        name=name if isinstance(name, str) else None,
        version_id=_str(detail.get("versionId")),
        kind="label-updated",
        event_id=_str(raw.get("id")),
        time=_time(raw),
        raw=raw,
    )


def _cloudtrail(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> SecretEvent | None:
    name = detail.get("eventName")
    if name not in _CLOUDTRAIL_NAMES or detail.get("errorCode"):
        return None
    request = detail.get("requestParameters") or {}
    response = detail.get("responseElements") or {}
    extra = detail.get("additionalEventData") or {}
    version = _str(response.get("versionId")) if isinstance(response, Mapping) else None
    if name == "PutSecretValue" and isinstance(request, Mapping):
        stages = request.get("versionStages")
        if stages and CURRENT_LABEL not in stages:
            return None  # e.g. AWSPENDING during rotation: not the current value yet
    if name == "UpdateSecretVersionStage":
        if not isinstance(request, Mapping) or request.get("versionStage") != CURRENT_LABEL:
            return None
        version = _str(request.get("moveToVersionId"))
    secret = _arn(response) or (request.get("secretId") if isinstance(request, Mapping) else None)
    if secret is None and isinstance(extra, Mapping):
        secret = extra.get("SecretId") or extra.get("secretId")
    if not isinstance(secret, str):
        raise ValidationError(f"CloudTrail {name} event names no secret")
    return SecretEvent(
        secret=secret,
        name=_str(response.get("name")) if isinstance(response, Mapping) else None,
        version_id=version,
        kind=str(name),
        event_id=_str(raw.get("id")),
        time=_time(raw),
        raw=raw,
    )


def _manual(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> SecretEvent:
    secret = detail.get("secret")
    if not isinstance(secret, str) or not secret:
        raise ValidationError("skybridge.secretsync event needs detail.secret")
    return SecretEvent(
        secret=secret,
        version_id=_str(detail.get("versionId")),
        kind="manual",
        event_id=_str(raw.get("id")),
        time=_time(raw),
        backend=_str(detail.get("backend")),
        raw=raw,
    )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def load_event(raw: Any) -> Mapping[str, Any]:
    """The event as a mapping, from a dict, JSON text or JSON bytes."""
    if isinstance(raw, bytes | bytearray):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ValidationError("event is not valid JSON") from None
    if not isinstance(raw, Mapping):
        raise ValidationError(f"event must be a JSON object, got {type(raw).__name__}")
    return raw


def parse_event(raw: Any) -> SecretEvent | None:
    """Parse one EventBridge event; ``None`` when it does not announce a new current value.

    Raises:
        ValidationError: not an event (not JSON, no detail, no secret): a poison message.
    """
    event = load_event(raw)
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ValidationError("event has no detail object")
    source = event.get("source")
    if source == LOCAL_SOURCE:
        return _manual(event, detail)
    if source != AWS_SOURCE:
        return None
    kind = event.get("detail-type")
    if kind == LABEL_UPDATED:
        return _label_updated(event, detail)
    if kind == CLOUDTRAIL:
        return _cloudtrail(event, detail)
    return None


def manual_event(
    secret: str, version_id: str | None = None, *, backend: str | None = None
) -> dict[str, Any]:
    """A ``skybridge.secretsync`` event for ``secret`` (what local writers and replays send)."""
    detail: dict[str, Any] = {"secret": secret}
    if version_id:
        detail["versionId"] = version_id
    if backend:
        detail["backend"] = backend
    return {"source": LOCAL_SOURCE, "detail-type": "Secret Version Written", "detail": detail}

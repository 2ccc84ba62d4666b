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
* The article's EventBridge ``input_transformer`` output, which has no ``source``:
  ``{"detail": {"aws_secret_arn", "oci_secret_ocid", "oci_vault_id", "oci_key_id"}}``. It
  carries no version, so the current one is read; the ``oci_*`` fields are kept as
  :attr:`SecretEvent.target_hints` and never choose the target (the mapping table does).

:func:`read_event` answers a :class:`SecretEvent`, or an :class:`IgnoredEvent` saying why the
event needs no sync (``RotateSecret`` only starts a rotation, ``CreateSecret`` and
``DeleteSecret`` are left to the reconcile, other labels, failed calls, other sources).
``parse_event`` is the same with ``None`` for ignored events. Both raise
:class:`ValidationError` for input that cannot be an event at all (a poison message).

Secret identifiers: a *full* ARN ends in ``-`` and 6 random characters that AWS adds to the
name; a *partial* ARN is the same without them, and a name may itself end in ``-XXXXXX``. Only
ARNs that AWS wrote (``resources``, ``responseElements.arn``) are known to be full
(:attr:`SecretEvent.arn_is_full`); see :func:`~skybridge.apps.secretsync.matching.source_match`.
"""

from __future__ import annotations

import json
import re
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
TRANSFORMER = "input-transformer"
_CLOUDTRAIL_NAMES = {
    "PutSecretValue",
    "UpdateSecret",
    "UpdateSecretVersionStage",
    "RotationSucceeded",
}
#: CloudTrail calls on a secret that do not make a new value current, and why.
_IGNORED_CALLS = {
    "RotateSecret": "RotateSecret only starts a rotation; the new value becomes current later, "
    "announced by RotationSucceeded and the AWSCURRENT label update",
    "CreateSecret": "CreateSecret: a new secret's first value is synced by the reconcile, "
    "which plans 'create' for a mapped source that appears",
    "DeleteSecret": "DeleteSecret: the reconcile applies the mapping's deletion policy "
    "(retain, delete or orphan) once the source is scheduled for deletion",
}
#: The fields of the article's input-transformer event that name OCI things.
TARGET_HINTS = ("oci_secret_ocid", "oci_vault_id", "oci_key_id")
#: Longest event-given identifier kept whole in logs and outcomes (a full ARN is under 600).
SHOWN_CHARS = 600
ARN_PATTERN = re.compile(r"(arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:)(.+)", re.DOTALL)
ARN_SUFFIX = re.compile(r"-[A-Za-z0-9]{6}")


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
        arn_is_full: ``secret`` is an ARN that AWS wrote, so it ends in the random suffix
            (an ARN a caller passed may be partial or full).
        target_hints: the article event's ``oci_*`` fields; never used to choose a target.
    """

    secret: str
    name: str | None = None
    version_id: str | None = None
    kind: str = "manual"
    event_id: str | None = None
    time: datetime | None = None
    backend: str | None = None
    arn_is_full: bool = False
    target_hints: Mapping[str, str] = field(default_factory=dict, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def identifiers(self) -> set[str]:
        """Every way this event names its secret: ARN, name, and the name inside the ARN."""
        found = {self.secret, arn_name(self.secret, full=self.arn_is_full)}
        if self.name:
            found.add(self.name)
        return found


@dataclass(frozen=True)
class IgnoredEvent:
    """An event that needs no sync, and why (``secret`` when the event names one)."""

    reason: str
    kind: str
    secret: str | None = None
    event_id: str | None = None


def shown(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` cut to ``limit`` characters, for logs and outcomes (an event may carry a huge
    identifier; no real one is longer than :data:`SHOWN_CHARS`)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def arn_name(secret: str, *, full: bool = False) -> str:
    """The secret name inside a Secrets Manager ARN; a name is returned as it is.

    Args:
        secret: a name or an ARN.
        full: the ARN is known to be full (AWS wrote it): strip its ``-XXXXXX`` suffix. A
            partial ARN is left whole, since a name may itself end in ``-`` and 6 characters.
    """
    found = ARN_PATTERN.fullmatch(secret)
    if found is None:
        return secret
    name = found.group(2)
    if full and ARN_SUFFIX.fullmatch(name[-7:]) and len(name) > 7:
        return name[:-7]
    return name


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


def _label_updated(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> SecretEvent | IgnoredEvent:
    resources = raw.get("resources") or []
    arn = resources[0] if resources and isinstance(resources[0], str) else None
    name = detail.get("name")
    secret = arn or name
    label = detail.get("labelUpdated")
    if label != CURRENT_LABEL:
        return IgnoredEvent(
            f"label {_quoted(label)} moved: only {CURRENT_LABEL} announces a new current value",
            "label-updated",
            secret if isinstance(secret, str) else None,
            _str(raw.get("id")),
        )
    if not isinstance(secret, str):
        raise ValidationError("Secret Label Updated event names no secret (resources, detail.name)")
    return SecretEvent(
        secret=secret,
        name=name if isinstance(name, str) else None,
        version_id=_str(detail.get("versionId")),
        kind="label-updated",
        event_id=_str(raw.get("id")),
        time=_time(raw),
        arn_is_full=arn is not None,
        raw=raw,
    )


def _cloudtrail_ignored(
    name: Any, request: Any, response: Any, detail: Mapping[str, Any]
) -> str | None:
    """Why a CloudTrail call announces no new current value (``None``: it does)."""
    if name in _IGNORED_CALLS:
        return _IGNORED_CALLS[str(name)]
    if name not in _CLOUDTRAIL_NAMES:
        return (
            f"CloudTrail {_quoted(name)} does not make a new value current "
            f"(synced: {', '.join(sorted(_CLOUDTRAIL_NAMES))})"
        )
    if detail.get("errorCode"):
        return f"the {name} call failed ({_quoted(detail.get('errorCode'))})"
    if name == "PutSecretValue" and isinstance(request, Mapping):
        stages = request.get("versionStages")
        if stages and CURRENT_LABEL not in stages:
            return f"PutSecretValue staged the value as {_quoted(stages)}, not {CURRENT_LABEL}"
    if name == "UpdateSecretVersionStage":
        stage = request.get("versionStage") if isinstance(request, Mapping) else None
        if stage != CURRENT_LABEL:
            return f"UpdateSecretVersionStage moved {_quoted(stage)}, not {CURRENT_LABEL}"
    return None


def _cloudtrail(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> SecretEvent | IgnoredEvent:
    name = detail.get("eventName")
    request = detail.get("requestParameters") or {}
    response = detail.get("responseElements") or {}
    extra = detail.get("additionalEventData") or {}
    full_arn = _arn(response)
    secret = full_arn or (request.get("secretId") if isinstance(request, Mapping) else None)
    if secret is None and isinstance(extra, Mapping):
        secret = extra.get("SecretId") or extra.get("secretId")
    why = _cloudtrail_ignored(name, request, response, detail)
    if why is not None:
        named = secret if isinstance(secret, str) else None
        return IgnoredEvent(why, shown(str(name), 60), named, _str(raw.get("id")))
    version = _str(response.get("versionId")) if isinstance(response, Mapping) else None
    if name == "UpdateSecretVersionStage":
        version = _str(request.get("moveToVersionId"))
    if not isinstance(secret, str):
        raise ValidationError(f"CloudTrail {name} event names no secret")
    return SecretEvent(
        secret=secret,
        name=_str(response.get("name")) if isinstance(response, Mapping) else None,
        version_id=version,
        kind=str(name),
        event_id=_str(raw.get("id")),
        time=_time(raw),
        arn_is_full=full_arn is not None,
        raw=raw,
    )


def _transformer(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> SecretEvent:
    """The article's input-transformer event: the secret, and OCI hints that are not used."""
    secret = detail.get("aws_secret_arn")
    if not isinstance(secret, str) or not secret:
        raise ValidationError(
            "the event's detail.aws_secret_arn is empty",
            hint="the rule's input path ($.detail.requestParameters.secretId) found no secret",
        )
    hints = {k: str(detail[k]) for k in TARGET_HINTS if isinstance(detail.get(k), str)}
    return SecretEvent(
        secret=secret, kind=TRANSFORMER, time=_time(raw), target_hints=hints, raw=raw
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


def _quoted(value: Any, limit: int = 100) -> str:
    """An event-given value in a reason: quoted, and cut short if long."""
    if isinstance(value, str):
        return f"'{shown(value, limit)}'"
    return shown(json.dumps(value, default=str), limit)


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


def read_event(raw: Any) -> SecretEvent | IgnoredEvent:
    """Parse one event: what it announces, or why it needs no sync.

    Raises:
        ValidationError: not an event (not JSON, no detail, no secret): a poison message.
    """
    event = load_event(raw)
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise ValidationError("event has no detail object")
    source = event.get("source")
    event_id = _str(event.get("id"))
    if source == LOCAL_SOURCE:
        return _manual(event, detail)
    if source is None and "aws_secret_arn" in detail:
        return _transformer(event, detail)
    if source != AWS_SOURCE:
        return IgnoredEvent(
            f"source {_quoted(source)} is not {AWS_SOURCE} or {LOCAL_SOURCE}, and the detail "
            "has no aws_secret_arn",
            "unknown",
            event_id=event_id,
        )
    kind = event.get("detail-type")
    if kind == LABEL_UPDATED:
        return _label_updated(event, detail)
    if kind == CLOUDTRAIL:
        return _cloudtrail(event, detail)
    return IgnoredEvent(
        f"detail-type {_quoted(kind)} is not {LABEL_UPDATED!r} or {CLOUDTRAIL!r}",
        "unknown",
        event_id=event_id,
    )


def parse_event(raw: Any) -> SecretEvent | None:
    """Parse one EventBridge event; ``None`` when it does not announce a new current value
    (:func:`read_event` says why).

    Raises:
        ValidationError: not an event (not JSON, no detail, no secret): a poison message.
    """
    event = read_event(raw)
    return event if isinstance(event, SecretEvent) else None


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

"""Audit (``/20190901``): ListEvents over the Vault mutations the emulator served.

Every successful Vault write (CreateSecret, UpdateSecret, Schedule/Cancel(Version)Deletion)
appends one event with the caller (the user OCID of the signing ``keyId``), the secret and the
emulator clock's time as ``eventTime``. The real service makes events visible "usually within
15 minutes" (docs: Audit, Viewing Audit Log Events); :attr:`AuditLog.delay` models that: an
event is listed only once ``delay`` seconds have passed on the emulator clock, but it is listed
under its original ``eventTime``, so a reader that does not re-read an overlap misses it.

ListEvents filters on ``compartmentId`` and ``startTime <= eventTime < endTime``; like the real
service it accepts times at minute granularity only (seconds and milliseconds must be 0).
Simplified: reads (GetSecret, bundles) are not audited, and there is no retention limit.
``data.additionalDetails.vaultId`` is an emulator convenience, not a documented field.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skybridge.core.clock import Clock
from skybridge.testing.oci import errors
from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.ids import rfc3339
from skybridge.testing.oci.paging import page_of
from skybridge.testing.oci.routing import Request, Response, Router
from skybridge.testing.oci.signing import parse_authorization
from skybridge.testing.oci.vault import Secret

BASE = "/20190901"
EVENT_TYPE_PREFIX = "com.oraclecloud.vaultmng."
_order = itertools.count()


@dataclass(frozen=True)
class AuditEvent:
    """One recorded API call."""

    event_name: str
    time: float
    visible_at: float
    compartment_id: str
    resource_id: str
    resource_name: str
    vault_id: str
    principal_id: str | None
    tenant_id: str | None
    path: str
    method: str
    request_id: str
    event_id: str
    order: int

    def to_json(self) -> dict[str, Any]:
        """The ``AuditEvent`` model as the SDK deserialises it."""
        return {
            "eventType": EVENT_TYPE_PREFIX + self.event_name,
            "cloudEventsVersion": "0.1",
            "eventTypeVersion": "2.0",
            "source": "vaultmng",
            "eventId": self.event_id,
            "eventTime": rfc3339(self.time),
            "contentType": "application/json",
            "data": {
                "eventGroupingId": self.request_id,
                "eventName": self.event_name,
                "compartmentId": self.compartment_id,
                "compartmentName": None,
                "resourceName": self.resource_name,
                "resourceId": self.resource_id,
                "availabilityDomain": None,
                "freeformTags": None,
                "definedTags": None,
                "identity": {
                    "principalName": None,
                    "principalId": self.principal_id,
                    "authType": "natv",
                    "callerName": None,
                    "callerId": None,
                    "tenantId": self.tenant_id,
                    "ipAddress": "127.0.0.1",
                    "credentials": None,
                    "userAgent": None,
                    "consoleSessionId": None,
                },
                "request": {
                    "id": self.request_id,
                    "path": self.path,
                    "action": self.method,
                    "parameters": {},
                    "headers": {},
                },
                "response": {"status": "200", "responseTime": rfc3339(self.time)},
                "stateChange": None,
                "additionalDetails": {"vaultId": self.vault_id},
            },
        }


def _caller(request: Request) -> tuple[str | None, str | None]:
    """``(user OCID, tenancy OCID)`` from the signature's ``keyId`` (``None`` when unsigned)."""
    try:
        key_id = parse_authorization(request.headers.get("authorization", "")).get("keyId", "")
    except ApiError:
        return None, None
    parts = key_id.split("/")
    return (parts[1], parts[0]) if len(parts) == 3 else (None, None)


def _minute_time(request: Request, name: str) -> float:
    value = request.query.get(name)
    if not value:
        raise errors.missing(name)
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid(f"{name} must be an RFC 3339 timestamp") from None
    if stamp.second or stamp.microsecond:
        raise errors.invalid(f"{name} must be given to the minute: seconds must be 0")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


class AuditLog:
    """The audit events of one emulated tenancy.

    Args:
        clock: the emulator clock (event times and visibility).
        delay: seconds before a new event is listed (default 0: at once).
    """

    def __init__(self, clock: Clock, delay: float = 0.0) -> None:
        self.clock = clock
        self.delay = delay
        self.events: list[AuditEvent] = []

    def record(self, request: Request, operation: str, secret: Secret) -> None:
        """Append the event for a successful ``operation`` on ``secret``."""
        now = self.clock.now()
        principal, tenant = _caller(request)
        self.events.append(
            AuditEvent(
                event_name=operation,
                time=now,
                visible_at=now + self.delay,
                compartment_id=secret.compartment_id,
                resource_id=secret.id,
                resource_name=secret.name,
                vault_id=secret.vault_id,
                principal_id=principal,
                tenant_id=tenant,
                path=request.path,
                method=request.method,
                request_id=request.headers.get("opc-request-id") or uuid.uuid4().hex.upper(),
                event_id=str(uuid.uuid4()),
                order=next(_order),
            )
        )

    def register(self, router: Router) -> None:
        router.add("GET", f"{BASE}/auditEvents", "ListEvents", self.list_events)

    def list_events(self, request: Request) -> Response:
        compartment = request.query.get("compartmentId")
        if not compartment:
            raise errors.missing("compartmentId")
        start, end = _minute_time(request, "startTime"), _minute_time(request, "endTime")
        if end <= start:
            raise errors.invalid("endTime must be later than startTime")
        now = self.clock.now()
        found = sorted(
            (
                e
                for e in self.events
                if e.compartment_id == compartment and start <= e.time < end and e.visible_at <= now
            ),
            key=lambda e: (e.time, e.order),
        )
        return page_of(request, [e.to_json() for e in found])

"""Audit (``/20190901``): ListEvents over the Vault and Secrets calls the emulator served.

Like the real service, which "records calls to all supported Oracle Cloud Infrastructure public
API endpoints" (docs: Overview of Audit), every successful Vault or Secrets call, reads
included, appends one event: the caller (the user OCID of the signing ``keyId``), the secret
(none for ListSecrets) and the emulator clock's time as ``eventTime``. Vault management calls
are ``com.oraclecloud.vaultmng.<Operation>``; secret retrieval calls (bundles) use the
emulator's own prefix ``com.oraclecloud.secretretrieval.`` (the real one is not documented
where we looked). The real service makes events visible "usually within 15 minutes" (docs:
Audit, Viewing Audit Log Events); :attr:`AuditLog.delay` models that: an event is listed only
once ``delay`` seconds have passed on the emulator clock, but under its original
``eventTime``, so a reader that does not re-read an overlap misses it.

ListEvents filters on ``compartmentId`` and ``startTime <= eventTime < endTime``; like the real
service it accepts times at minute granularity only (seconds and milliseconds must be 0). Events
are kept in time order, so a page costs the events it walks, not the whole log. Pages hold 100
events (``limit`` may ask for up to 1,000; the real page size is not documented).
Simplified: failed calls, ListEvents itself and Object Storage are not audited; no retention
limit. ``data.additionalDetails.vaultId`` is an emulator convenience, not a documented field.
"""

from __future__ import annotations

import bisect
import itertools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from skybridge.core.clock import Clock
from skybridge.testing.oci import errors
from skybridge.testing.oci.errors import ApiError
from skybridge.testing.oci.ids import rfc3339
from skybridge.testing.oci.paging import DEFAULT_LIMIT, MAX_LIMIT
from skybridge.testing.oci.routing import Request, Response, Router, json_response
from skybridge.testing.oci.signing import parse_authorization
from skybridge.testing.oci.vault import Secret

BASE = "/20190901"
EVENT_TYPE_PREFIX = "com.oraclecloud.vaultmng."
RETRIEVAL_PREFIX = "com.oraclecloud.secretretrieval."
#: Operations of the Secrets (retrieval) service; the rest are Vault management.
RETRIEVAL = frozenset({"GetSecretBundle", "GetSecretBundleByName", "ListSecretBundleVersions"})
_order = itertools.count()


@dataclass(frozen=True)
class AuditEvent:
    """One recorded API call."""

    event_name: str
    time: float
    visible_at: float
    compartment_id: str
    resource_id: str | None
    resource_name: str | None
    vault_id: str | None
    principal_id: str | None
    tenant_id: str | None
    path: str
    method: str
    request_id: str
    event_id: str
    order: int

    def to_json(self) -> dict[str, Any]:
        """The ``AuditEvent`` model as the SDK deserialises it."""
        retrieval = self.event_name in RETRIEVAL
        return {
            "eventType": (RETRIEVAL_PREFIX if retrieval else EVENT_TYPE_PREFIX) + self.event_name,
            "cloudEventsVersion": "0.1",
            "eventTypeVersion": "2.0",
            "source": "secretretrieval" if retrieval else "vaultmng",
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
    """The audit events of one emulated tenancy, in ``(time, order)`` order.

    Args:
        clock: the emulator clock (event times and visibility).
        delay: seconds before a new event is listed (default 0: at once).
    """

    def __init__(self, clock: Clock, delay: float = 0.0) -> None:
        self.clock = clock
        self.delay = delay
        self.events: list[AuditEvent] = []

    def record(
        self, request: Request, operation: str, secret: Secret | None, compartment_id: str = ""
    ) -> None:
        """Append the event for a successful ``operation`` on ``secret`` (``None``: a listing
        in ``compartment_id``)."""
        principal, tenant = _caller(request)
        request_id = request.headers.get("opc-request-id") or uuid.uuid4().hex.upper()
        self.append(operation, secret, principal, tenant, request, request_id, compartment_id)

    def record_reads(self, secrets: Iterable[Secret], principal: str, tenant: str) -> None:
        """Events for ``principal`` reading each secret's bundle by name, made without HTTP
        calls (other clients' read traffic, for tests that need an audit log shaped like a
        busy tenancy's)."""
        for secret in secrets:
            target = f"/20190301/secretbundles/actions/getByName?secretName={secret.name}"
            request = Request("POST", target, {})
            request_id = uuid.uuid4().hex.upper()
            self.append("GetSecretBundleByName", secret, principal, tenant, request, request_id)

    def append(
        self,
        operation: str,
        secret: Secret | None,
        principal: str | None,
        tenant: str | None,
        request: Request,
        request_id: str,
        compartment_id: str = "",
    ) -> None:
        now = self.clock.now()
        event = AuditEvent(
            event_name=operation,
            time=now,
            visible_at=now + self.delay,
            compartment_id=secret.compartment_id if secret is not None else compartment_id,
            resource_id=secret.id if secret is not None else None,
            resource_name=secret.name if secret is not None else None,
            vault_id=secret.vault_id if secret is not None else None,
            principal_id=principal,
            tenant_id=tenant,
            path=request.path,
            method=request.method,
            request_id=request_id,
            event_id=str(uuid.uuid4()),
            order=next(_order),
        )
        bisect.insort(self.events, event, key=_position)  # at the end unless the clock went back

    def register(self, router: Router) -> None:
        router.add("GET", f"{BASE}/auditEvents", "ListEvents", self.list_events)

    def list_events(self, request: Request) -> Response:
        compartment = request.query.get("compartmentId")
        if not compartment:
            raise errors.missing("compartmentId")
        start, end = _minute_time(request, "startTime"), _minute_time(request, "endTime")
        if end <= start:
            raise errors.invalid("endTime must be later than startTime")
        limit = request.int_query("limit") or DEFAULT_LIMIT
        if not 1 <= limit <= MAX_LIMIT:
            raise errors.invalid(f"limit must be between 1 and {MAX_LIMIT}")
        now, events = self.clock.now(), self.events
        low = bisect.bisect_left(events, start, key=_time)
        high = bisect.bisect_left(events, end, key=_time)
        at = _page_start(request, low, high)

        def listed(event: AuditEvent) -> bool:
            return event.compartment_id == compartment and event.visible_at <= now

        page: list[dict[str, Any]] = []
        while at < high and len(page) < limit:
            if listed(events[at]):
                page.append(events[at].to_json())
            at += 1
        while at < high and not listed(events[at]):
            at += 1
        return json_response(page, headers={"opc-next-page": str(at)} if at < high else {})


def _time(event: AuditEvent) -> float:
    return event.time


def _position(event: AuditEvent) -> tuple[float, int]:
    return event.time, event.order


def _page_start(request: Request, low: int, high: int) -> int:
    """Where a page starts: the window's first event, or the position a page token names."""
    token = request.query.get("page")
    if not token:
        return low
    try:
        at = int(token)
    except ValueError:
        raise errors.invalid("page is not a token this service issued") from None
    return min(max(at, low), high)

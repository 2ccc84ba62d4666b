"""Usage API (``/20200107/usage``): RequestSummarizedUsages over cost items a test recorded
with :meth:`UsageRecords.add`.

Service rules kept (from OCI's docs and SDK issues): ``timeUsageStarted``/``timeUsageEnded``
must be exact UTC midnights for DAILY and MONTHLY ("Passed UTC date does not have the right
precision", 400); the end is after the start; ``queryType`` COST or USAGE; ``groupByTag`` takes
one tag; fields not grouped by come back null; results page with ``opc-next-page``.
Simplified: HOURLY, forecasts, filters and compartment depth are not modelled.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from skybridge.testing.oci import errors
from skybridge.testing.oci.routing import Request, Response, Router, json_response

BASE = "/20200107"
GROUP_FIELDS = {
    "service": "service",
    "compartmentName": "compartment_name",
    "compartmentId": "compartment_id",
    "region": "region",
    "resourceId": "resource_id",
    "skuName": "sku_name",
}
PAGE = 100


@dataclass(frozen=True)
class UsageItem:
    """The cost of one resource on one UTC day."""

    day: date
    service: str
    amount: Decimal
    quantity: Decimal = Decimal(0)
    compartment_id: str = ""
    compartment_name: str = ""
    region: str = "us-ashburn-1"
    resource_id: str = ""
    sku_name: str = ""
    currency: str = "USD"
    tags: dict[str, str] = field(default_factory=dict)  # "Namespace.Key" or free-form "key"


def _midnight(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise errors.missing(name)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.invalid(f"{name} is not an RFC 3339 time") from None
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if (moment.hour, moment.minute, moment.second, moment.microsecond) != (0, 0, 0, 0):
        raise errors.invalid("Passed UTC date does not have the right precision")
    return moment


class UsageRecords:
    """Recorded cost items and the summarising operation."""

    def __init__(self) -> None:
        self.items: list[UsageItem] = []

    def add(self, item: UsageItem) -> None:
        self.items.append(item)

    def register(self, router: Router) -> None:
        router.add("POST", f"{BASE}/usage", "RequestSummarizedUsages", self.summarize)
        router.add("GET", f"{BASE}/customTables", "ListCustomTables", self.custom_tables)

    def custom_tables(self, request: Request) -> Response:
        """``ListCustomTables``: the emulator keeps no saved reports, so none has tables (the
        call a client makes to check its credentials and endpoint)."""
        for name in ("compartmentId", "savedReportId"):
            if not request.query.get(name):
                raise errors.invalid(f"{name} is required")
        return json_response({"items": []})

    def summarize(self, request: Request) -> Response:
        body = request.json()
        start = _midnight(body.get("timeUsageStarted"), "timeUsageStarted")
        end = _midnight(body.get("timeUsageEnded"), "timeUsageEnded")
        if end <= start:
            raise errors.invalid("timeUsageEnded must be after timeUsageStarted")
        if body.get("granularity") != "DAILY":
            raise errors.invalid("this emulator summarises DAILY granularity only")
        if body.get("queryType", "USAGE") not in {"COST", "USAGE"}:
            raise errors.invalid("queryType must be COST or USAGE")
        group_by = body.get("groupBy") or []
        unknown = [g for g in group_by if g not in GROUP_FIELDS]
        if unknown:
            raise errors.invalid(f"groupBy {unknown[0]!r} is not supported")
        tags = body.get("groupByTag") or []
        if len(tags) > 1:
            raise errors.invalid("groupByTag accepts one tag only")
        tag = _tag_name(tags[0]) if tags else None
        rows = self._aggregate(start.date(), end.date(), group_by, tag, tags[0] if tags else None)
        return _page(request, rows)

    def _aggregate(
        self,
        start: date,
        end: date,
        group_by: list[str],
        tag: str | None,
        tag_spec: dict[str, Any] | None,
    ) -> list[dict[str, Any]]:
        sums: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
        currencies: dict[tuple[Any, ...], str] = {}
        for item in self.items:
            if not start <= item.day < end:
                continue
            key = (
                item.day,
                *(getattr(item, GROUP_FIELDS[g]) for g in group_by),
                item.tags.get(tag) if tag else None,
            )
            sums[key][0] += item.amount
            sums[key][1] += item.quantity
            currencies[key] = item.currency
        rows = []
        for key, (amount, quantity) in sorted(
            sums.items(), key=lambda kv: tuple(str(x) for x in kv[0])
        ):
            day, *fields, tag_value = key
            row: dict[str, Any] = dict.fromkeys(
                ["service", "compartmentName", "compartmentId", "region", "resourceId", "skuName"]
            )
            row.update(zip(group_by, fields, strict=True))
            first = datetime(day.year, day.month, day.day, tzinfo=UTC)
            row |= {
                "timeUsageStarted": first.isoformat().replace("+00:00", "Z"),
                "timeUsageEnded": (first + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
                "computedAmount": float(amount),
                "computedQuantity": float(quantity),
                "currency": currencies[key],
                "isForecast": False,
                "tags": [{**(tag_spec or {}), "value": tag_value}] if tag else [],
            }
            rows.append(row)
        return rows


def _tag_name(spec: Any) -> str:
    if not isinstance(spec, dict) or not spec.get("key"):
        raise errors.invalid("groupByTag needs a key")
    return f"{spec['namespace']}.{spec['key']}" if spec.get("namespace") else str(spec["key"])


def _page(request: Request, rows: list[dict[str, Any]]) -> Response:
    token = request.query.get("page")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise errors.invalid("page is not a token this service issued") from None
    limit = request.int_query("limit") or PAGE
    headers = {"opc-next-page": str(start + limit)} if start + limit < len(rows) else {}
    return json_response({"groupBy": [], "items": rows[start : start + limit]}, headers=headers)

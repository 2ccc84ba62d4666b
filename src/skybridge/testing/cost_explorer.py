"""Canned Cost Explorer answers for the moto server, which answers ``GetCostAndUsage`` only
with results queued beforehand (``/moto-api/static/ce/cost-and-usage-results``).

::

    queue_cost_and_usage(moto_server.url, cost_and_usage_pages(rows, "cost_center"))
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

#: (day, service, tag value or None, UnblendedCost, AmortizedCost)
CostRow = tuple[date, str, str | None, Decimal, Decimal]


def cost_and_usage_pages(rows: Sequence[CostRow], tag_key: str | None) -> list[dict[str, Any]]:
    """The documented ``GetCostAndUsage`` answers for ``rows``: one day per page, linked by
    ``NextPageToken``; grouped by SERVICE and, with ``tag_key``, the tag (``key$value``)."""
    days = sorted({r[0] for r in rows})
    pages = []
    for index, day in enumerate(days):
        groups = []
        for _, service, value, billed, effective in (r for r in rows if r[0] == day):
            keys = [service] + ([f"{tag_key}${value or ''}"] if tag_key else [])
            metrics = {
                "UnblendedCost": {"Amount": str(billed), "Unit": "USD"},
                "AmortizedCost": {"Amount": str(effective), "Unit": "USD"},
            }
            groups.append({"Keys": keys, "Metrics": metrics})
        period = {"Start": day.isoformat(), "End": day.isoformat()}
        result = {"TimePeriod": period, "Total": {}, "Groups": groups, "Estimated": False}
        page: dict[str, Any] = {"ResultsByTime": [result], "DimensionValueAttributes": []}
        if index < len(days) - 1:
            page["NextPageToken"] = f"page-{index + 1}"
        pages.append(page)
    return pages


def by_service(rows: Sequence[CostRow]) -> list[CostRow]:
    """``rows`` summed per day and service, as Cost Explorer answers without a tag grouping."""
    merged: dict[tuple[date, str], list[Decimal]] = {}
    for day, service, _, billed, effective in rows:
        entry = merged.setdefault((day, service), [Decimal(0), Decimal(0)])
        entry[0] += billed
        entry[1] += effective
    return [(day, service, None, b, e) for (day, service), (b, e) in merged.items()]


def queue_cost_and_usage(moto_url: str, pages: list[dict[str, Any]]) -> None:
    """Queue ``pages`` as the next ``GetCostAndUsage`` answers of the moto server."""
    url = f"{moto_url}/moto-api/static/ce/cost-and-usage-results"
    httpx.post(url, json={"results": pages}, timeout=10).raise_for_status()

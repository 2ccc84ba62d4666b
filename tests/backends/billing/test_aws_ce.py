"""aws-ce://: Cost Explorer on the moto server (canned results, the only way moto answers it)
passes the billing contract; the canned pages are the documented GetCostAndUsage shape."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from skybridge.backends import billing
from skybridge.backends.billing import BillingSource
from skybridge.testing.contracts.billing import BillingContract, Record, Row
from skybridge.testing.servers import RunningServer

pytestmark = pytest.mark.moto


def ce_pages(rows: list[Row], tag_key: str | None) -> list[dict[str, Any]]:
    """The GetCostAndUsage answers for ``rows``: one day per page, linked by NextPageToken."""
    days = sorted({r[0] for r in rows})
    pages = []
    for index, day in enumerate(days):
        groups = []
        for _, service, center, billed, effective in (r for r in rows if r[0] == day):
            keys = [service] + ([f"{tag_key}${center or ''}"] if tag_key else [])
            metrics = {
                "UnblendedCost": {"Amount": str(billed), "Unit": "USD"},
                "AmortizedCost": {"Amount": str(effective), "Unit": "USD"},
            }
            groups.append({"Keys": keys, "Metrics": metrics})
        page: dict[str, Any] = {
            "ResultsByTime": [
                {
                    "TimePeriod": {"Start": day.isoformat(), "End": day.isoformat()},
                    "Total": {},
                    "Groups": groups,
                    "Estimated": False,
                }
            ],
            "DimensionValueAttributes": [],
        }
        if index < len(days) - 1:
            page["NextPageToken"] = f"page-{index + 1}"
        pages.append(page)
    return pages


class TestCostExplorer(BillingContract):
    @pytest.fixture
    def source(self, moto_server: RunningServer) -> BillingSource:
        return billing.connect(f"aws-ce://us-east-1?endpoint_url={moto_server.url}")

    @pytest.fixture
    def record(self, moto_server: RunningServer) -> Record:
        def put(rows: list[Row], tag_key: str | None) -> None:
            # Without the tag, Cost Explorer groups by service alone: sum the rows per service.
            if tag_key is None:
                merged: dict[tuple[Any, str], list[Any]] = {}
                for day, service, _, billed, effective in rows:
                    entry = merged.setdefault((day, service), [day, service, None, 0, 0])
                    entry[3] += billed
                    entry[4] += effective
                rows = [tuple(v) for v in merged.values()]  # type: ignore[misc]
            results = ce_pages(rows, tag_key)
            response = httpx.post(
                f"{moto_server.url}/moto-api/static/ce/cost-and-usage-results",
                json={"results": results},
            )
            response.raise_for_status()

        return put

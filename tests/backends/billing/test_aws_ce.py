"""aws-ce://: Cost Explorer on the moto server (canned results, the only way moto answers it)
passes the billing contract; the canned pages are the documented GetCostAndUsage shape."""

from __future__ import annotations

import pytest

from skybridge.backends import billing
from skybridge.backends.billing import BillingSource
from skybridge.testing.contracts.billing import BillingContract, Record, Row
from skybridge.testing.cost_explorer import by_service, cost_and_usage_pages, queue_cost_and_usage
from skybridge.testing.servers import RunningServer

pytestmark = pytest.mark.moto


class TestCostExplorer(BillingContract):
    @pytest.fixture
    def source(self, moto_server: RunningServer) -> BillingSource:
        return billing.connect(f"aws-ce://us-east-1?endpoint_url={moto_server.url}")

    @pytest.fixture
    def record(self, moto_server: RunningServer) -> Record:
        def put(rows: list[Row], tag_key: str | None) -> None:
            grouped = rows if tag_key else by_service(rows)
            queue_cost_and_usage(moto_server.url, cost_and_usage_pages(grouped, tag_key))

        return put

"""oci-usage://: the OCI Usage API on the skybridge OCI emulator passes the billing contract."""

from __future__ import annotations

from datetime import UTC, datetime

import oci
import pytest

from skybridge.backends import billing
from skybridge.backends.billing import BillingSource
from skybridge.testing.contracts.billing import BillingContract, Record, Row
from skybridge.testing.oci import OciEmulator, UsageItem

pytestmark = pytest.mark.oci


class TestUsageApi(BillingContract):
    @pytest.fixture
    def source(self, oci_emulator: OciEmulator) -> BillingSource:
        oci_emulator.reset()
        url = f"oci-usage://{oci_emulator.tenancy_id}?endpoint={oci_emulator.endpoint}"
        return billing.connect(url, config=oci_emulator.sdk_config())

    @pytest.fixture
    def record(self, oci_emulator: OciEmulator) -> Record:
        def put(rows: list[Row], tag_key: str | None) -> None:
            for day, service, center, billed, _ in rows:
                tags = {"cost_center": center} if center else {}
                oci_emulator.add_usage(UsageItem(day, service, billed, tags=tags))

        return put


def test_the_api_refuses_times_that_are_not_utc_midnights(oci_emulator: OciEmulator) -> None:
    client = oci.usage_api.UsageapiClient(
        oci_emulator.sdk_config(), service_endpoint=oci_emulator.endpoint
    )
    details = oci.usage_api.models.RequestSummarizedUsagesDetails(
        tenant_id=oci_emulator.tenancy_id,
        time_usage_started=datetime(2024, 9, 1, 10, tzinfo=UTC),
        time_usage_ended=datetime(2024, 9, 2, tzinfo=UTC),
        granularity="DAILY",
        query_type="COST",
    )
    with pytest.raises(oci.exceptions.ServiceError) as caught:
        client.request_summarized_usages(details)
    assert caught.value.status == 400
    assert "precision" in caught.value.message


def test_many_lines_come_back_over_several_pages(oci_emulator: OciEmulator) -> None:
    from datetime import date, timedelta
    from decimal import Decimal

    oci_emulator.reset()
    for offset in range(150):
        oci_emulator.add_usage(
            UsageItem(date(2024, 1, 1) + timedelta(days=offset), "COMPUTE", Decimal("1.5"))
        )
    source = billing.connect(
        f"oci-usage://{oci_emulator.tenancy_id}?endpoint={oci_emulator.endpoint}",
        config=oci_emulator.sdk_config(),
    )
    lines = source.daily_costs(date(2024, 1, 1), date(2024, 6, 1))
    assert len(lines) == 150
    assert sum(line.billed_cost for line in lines) == Decimal("225.0")
    assert oci_emulator.calls["RequestSummarizedUsages"] >= 2

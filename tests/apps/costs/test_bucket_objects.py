"""Objects of a report bucket are ingested one by one: one that cannot be ingested is rejected
by key, on every run, and never keeps the others out; OCI usage reports are skipped."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from skybridge.apps.costs.ingest import CostStore
from skybridge.backends import objects
from skybridge.backends.objects import ObjectStore

FOCUS = (
    "BilledCost,EffectiveCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ProviderName,"
    "ServiceName,ChargeCategory\n"
    "1.5,1.5,USD,2024-05-01T00:00:00Z,2024-05-02T00:00:00Z,AWS,EC2,Usage\n"
)
#: The header of an OCI usage report (reports/usage-csv/): quantities, no cost/myCost.
USAGE_REPORT = (
    "lineItem/referenceNo,lineItem/tenantId,lineItem/intervalUsageStart,"
    "lineItem/intervalUsageEnd,product/service,product/resource,product/compartmentId,"
    "product/region,product/resourceId,usage/billedQuantity,usage/consumedQuantity,"
    "usage/consumedQuantityUnits,lineItem/isCorrection,lineItem/backreferenceNo\n"
    "ref-1,ocid1.tenancy.oc1..t,2024-05-01T00:00Z,2024-05-01T01:00Z,COMPUTE,PIC_COMPUTE,"
    "ocid1.compartment.oc1..c,us-ashburn-1,ocid1.instance.oc1..i,1,1,OCPU_HOURS,false,\n"
)


@pytest.fixture
def bucket(tmp_path: Path) -> ObjectStore:
    return objects.connect(f"file://{tmp_path}/bucket")


def statuses(store: CostStore, bucket: ObjectStore, prefix: str) -> list[tuple[str, str]]:
    return [(r.source, r.status) for r in store.ingest_objects(bucket, prefix)]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (gzip.compress(b"a,b\n1,2\n"), "is not a FOCUS export"),
        (b"not gzip at all", "is not a complete gzip file"),
        (gzip.compress(FOCUS.encode() * 50)[:-40], "cannot be read to its end"),
    ],
    ids=["no-export", "not-gzip", "truncated"],
)
def test_an_object_that_cannot_be_ingested_is_rejected_by_key_on_every_run(
    store: CostStore, bucket: ObjectStore, body: bytes, why: str
) -> None:
    bucket.put("reports/cost-csv/0000-poison.csv.gz", body)  # sorts before the good one
    bucket.put("reports/cost-csv/0001.csv.gz", gzip.compress(FOCUS.encode()))
    poison, good = (
        "objects:reports/cost-csv/0000-poison.csv.gz",
        "objects:reports/cost-csv/0001.csv.gz",
    )
    first = list(store.ingest_objects(bucket, "reports/cost-csv/"))
    assert [(r.source, r.status) for r in first] == [(poison, "rejected"), (good, "ingested")]
    assert "reports/cost-csv/0000-poison.csv.gz" in first[0].reason
    assert why in first[0].reason
    assert "export.csv" not in first[0].reason  # the object, never the local copy, is named
    assert first[0].failed
    assert first[0].to_dict()["reason"] == first[0].reason
    assert [f.source for f in store.ledger.files()] == [good]
    again = statuses(store, bucket, "reports/cost-csv/")
    assert again == [(poison, "rejected"), (good, "unchanged")]


def test_oci_usage_reports_beside_the_cost_reports_are_skipped_with_the_reason(
    store: CostStore, bucket: ObjectStore
) -> None:
    bucket.put("reports/cost-csv/0001.csv.gz", gzip.compress(FOCUS.encode()))
    bucket.put("reports/usage-csv/0001.csv.gz", gzip.compress(USAGE_REPORT.encode()))
    bucket.put("reports/zz/0002.csv", FOCUS.replace("1.5", "9.0").encode())
    results = list(store.ingest_objects(bucket, "reports/"))
    assert [(r.source, r.status) for r in results] == [
        ("objects:reports/cost-csv/0001.csv.gz", "ingested"),
        ("objects:reports/usage-csv/0001.csv.gz", "skipped"),
        ("objects:reports/zz/0002.csv", "ingested"),
    ]
    assert "an OCI usage report" in results[1].reason
    assert not results[1].failed
    assert statuses(store, bucket, "reports/")[1] == (
        "objects:reports/usage-csv/0001.csv.gz",
        "skipped",
    )


def test_an_object_removed_after_the_listing_is_skipped(
    store: CostStore, bucket: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket.put("reports/cost-csv/0001.csv.gz", gzip.compress(FOCUS.encode()))
    listed = [*bucket.keys("reports/"), "reports/cost-csv/0000-expired.csv.gz"]
    monkeypatch.setattr(bucket, "keys", lambda prefix: iter(listed))
    results = list(store.ingest_objects(bucket, "reports/"))
    assert [(r.source, r.status) for r in results] == [
        ("objects:reports/cost-csv/0000-expired.csv.gz", "skipped"),
        ("objects:reports/cost-csv/0001.csv.gz", "ingested"),
    ]
    assert (
        results[0].reason == "reports/cost-csv/0000-expired.csv.gz was removed after it was listed"
    )

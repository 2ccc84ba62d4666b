"""Demo exports: two months of AWS (FOCUS 1.2 export) and OCI (proprietary cost report) spend,
with a weekly pattern, cost-centre tags (some missing or wrong), one cost spike and one OCI
correction. Deterministic for a given last day."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
from datetime import date, timedelta

DAYS = 60
COST_CENTERS = ("CC-101", "CC-202", "CC-303", None, "cc-999")
AWS_SERVICES = {
    "Amazon Elastic Compute Cloud": 42.0,
    "Amazon Simple Storage Service": 11.0,
    "Amazon Relational Database Service": 25.0,
    "AWS Lambda": 3.5,
}
OCI_SERVICES = {"COMPUTE": 30.0, "DATABASE": 18.0, "OBJECTSTORE": 4.0, "NETWORK": 2.5}
FOCUS_HEADER = [
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "InvoiceIssuerName",
    "ProviderName",
    "PublisherName",
    "PricingQuantity",
    "PricingUnit",
    "ServiceCategory",
    "ServiceName",
    "RegionId",
    "ResourceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
OCI_HEADER = [
    "lineItem/referenceNo",
    "lineItem/tenantId",
    "lineItem/intervalUsageStart",
    "lineItem/intervalUsageEnd",
    "product/service",
    "product/compartmentId",
    "product/compartmentName",
    "product/region",
    "product/availabilityDomain",
    "product/resourceId",
    "usage/billedQuantity",
    "usage/billedQuantityOverage",
    "cost/subscriptionId",
    "cost/productSku",
    "product/Description",
    "cost/unitPrice",
    "cost/unitPriceOverage",
    "cost/myCost",
    "cost/myCostOverage",
    "cost/currencyCode",
    "cost/billingUnitReadable",
    "cost/skuUnitDescription",
    "cost/overageFlag",
    "lineItem/isCorrection",
    "lineItem/backreferenceNo",
    "tags/Finance.cost_center",
    "tags/Oracle-Tags.CreatedBy",
]
TENANCY = "ocid1.tenancy.oc1..aaaademotenancy"


def _arn(service: str, center: str | None) -> str:
    return f"arn:aws:demo:eu-west-1:444455556666:{service.split()[-1].lower()}/{center or 'none'}"


def _factor(day: date, rng: random.Random, seed: int) -> float:
    """A row's share of its day: the weekly pattern, the day's own level (busier and quieter
    days, shared by all its rows, so daily totals vary and the forecast band has a width) and
    the row's own noise."""
    weekend = 0.55 if day.weekday() >= 5 else 1.0
    level = random.Random(seed * 100_003 + day.toordinal()).uniform(0.88, 1.12)
    return weekend * level * rng.uniform(0.95, 1.05)


def aws_focus_csv(last: date, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FOCUS_HEADER)
    first = last - timedelta(days=DAYS - 1)
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        for service, base in AWS_SERVICES.items():
            for index, center in enumerate(COST_CENTERS):
                share = (0.4, 0.3, 0.2, 0.07, 0.03)[index]
                cost = base * share * _factor(day, rng, seed)
                if (
                    day == last - timedelta(days=4)
                    and service.endswith("Compute Cloud")
                    and center == "CC-202"
                ):
                    cost *= 6  # the spike the anomaly detector should find
                tags = json.dumps(
                    {"user:cost_center": center, "environment": "prod"}
                    if center
                    else {"environment": "dev"}
                )
                period = day.replace(day=1)
                writer.writerow(
                    [
                        f"{cost:.6f}",
                        f"{cost * 0.92:.6f}",
                        f"{cost * 1.1:.6f}",
                        f"{cost:.6f}",
                        "111122223333",
                        "Demo payer",
                        "USD",
                        f"{period} 00:00:00",
                        f"{(period + timedelta(days=32)).replace(day=1)} 00:00:00",
                        "Usage",
                        "",
                        f"{service} usage",
                        f"{day} 00:00:00",
                        f"{day + timedelta(days=1)} 00:00:00",
                        "Amazon Web Services, Inc.",
                        "AWS",
                        "Amazon Web Services, Inc.",
                        "24",
                        "Hours",
                        "Compute",
                        service,
                        "eu-west-1",
                        _arn(service, center),
                        "444455556666",
                        "Demo workloads",
                        tags,
                    ]
                )
    return out.getvalue().encode()


def oci_cost_report_gz(last: date, seed: int = 11) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(OCI_HEADER)
    first = last - timedelta(days=DAYS - 1)
    serial = 0
    for offset in range(DAYS):
        day = first + timedelta(days=offset)
        for service, base in OCI_SERVICES.items():
            for index, center in enumerate(COST_CENTERS[:4]):
                serial += 1
                cost = base * (0.45, 0.3, 0.2, 0.05)[index] * _factor(day, rng, seed)
                writer.writerow(_oci_row(serial, day, service, cost, center, correction=None))
    serial += 1
    writer.writerow(
        _oci_row(serial, last, "COMPUTE", 1.0, "CC-101", correction=f"demo-{serial - 3:06d}")
    )
    return gzip.compress(out.getvalue().encode(), mtime=0)


def _oci_row(
    serial: int, day: date, service: str, cost: float, center: str | None, correction: str | None
) -> list[str]:
    return [
        f"demo-{serial:06d}",
        TENANCY,
        f"{day}T00:00Z",
        f"{day + timedelta(days=1)}T00:00:00Z",
        service,
        "ocid1.compartment.oc1..aaaademo",
        "demo-apps",
        "eu-frankfurt-1",
        "FRA-AD-1",
        f"ocid1.instance.oc1.eu-frankfurt-1.demo{service.lower()}{(center or 'none').lower()}",
        "24",
        "",
        "ocid1.organizationssubscription.oc1..demo",
        "B93113",
        f"{service.title()} usage",
        f"{cost / 24:.8f}",
        "",
        f"{cost:.8f}",
        "",
        "USD",
        "1 HOURS",
        "Hours",
        "false",
        "true" if correction else "false",
        correction or "",
        center or "",
        "default/demo@example.com",
    ]

"""What each delivered file is, and the SQL that maps its columns onto the canonical ones.

Kinds: ``focus`` (FOCUS 1.0-1.4 exports of AWS, OCI, Azure, GCP), ``aws-cur`` (legacy CUR,
``lineItem/...`` columns), ``aws-cur2`` (CUR 2.0, snake_case, ``resource_tags`` a map) and
``oci-cost`` (OCI's proprietary cost report, ``cost/myCost`` and one ``tags/...`` column per
tag). Every expression reads text columns (files are read as text) and yields text, except the tags:
``x_TagJson`` (a JSON object, for exports that carry tags as JSON) or ``x_TagMap`` (a map built
from one column per tag); :mod:`.convert` casts and checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

from skybridge.apps.costs.columns_sql import (
    json_tags,
    lit,
    pick,
    q,
    tags_from_columns,
    timestamp,
)
from skybridge.apps.costs.focus import ALIASES, COLUMNS
from skybridge.apps.costs.formats_aws import aws_cur2_plan, aws_cur_plan
from skybridge.core.errors import ValidationError

Kind = Literal["focus", "aws-cur", "aws-cur2", "oci-cost"]
KINDS: tuple[Kind, ...] = ("focus", "aws-cur", "aws-cur2", "oci-cost")
Plan = dict[str, str]
__all__ = [
    "KINDS",
    "USAGE_REPORT",
    "Kind",
    "Plan",
    "detect",
    "lit",
    "oci_usage_report",
    "plan_for",
    "q",
]

#: Why an OCI usage report is not ingested, and where its costs are.
USAGE_REPORT = (
    "an OCI usage report: it holds the resources' quantities, not their costs; OCI writes the "
    "cost reports beside it, under reports/cost-csv/"
)

#: OCI services by FOCUS ServiceCategory (the cost report has no category).
OCI_CATEGORIES = {
    "COMPUTE": "Compute",
    "DATABASE": "Databases",
    "MYSQL": "Databases",
    "BLOCK_STORAGE": "Storage",
    "OBJECTSTORE": "Storage",
    "FILE_STORAGE": "Storage",
    "NETWORK": "Networking",
    "TELEMETRY": "Management and Governance",
    "ORACLE_STREAMING_SERVICE": "Integration",
}


def detect(columns: Sequence[str]) -> Kind:
    """The kind of file whose header is ``columns``.

    Raises:
        ValidationError: the header matches no known export (names what was expected).
    """
    names = {c.strip() for c in columns}
    if oci_usage_report(columns):
        raise ValidationError(f"the file is {USAGE_REPORT}", hint="ingest the cost reports")
    if "cost/myCost" in names and "lineItem/intervalUsageStart" in names:
        return "oci-cost"
    if "lineItem/UnblendedCost" in names:
        return "aws-cur"
    if "line_item_unblended_cost" in names:
        return "aws-cur2"
    if {"BilledCost", "EffectiveCost"} <= names:
        return "focus"
    raise ValidationError(
        "the file is not a FOCUS export, an AWS CUR (legacy or 2.0) or an OCI cost report",
        hint="a FOCUS file has BilledCost and EffectiveCost columns; a CUR lineItem/UnblendedCost "
        "or line_item_unblended_cost; an OCI cost report cost/myCost",
    )


def oci_usage_report(columns: Sequence[str]) -> bool:
    """Whether ``columns`` are the header of an OCI usage report: the cost report's line items
    and ``usage/...`` quantities, without ``cost/myCost``."""
    names = {c.strip() for c in columns}
    return (
        "lineItem/intervalUsageStart" in names
        and "cost/myCost" not in names
        and any(n.startswith("usage/") for n in names)
    )


def focus_plan(columns: Sequence[str]) -> Plan:
    plan = {name: pick(columns, *ALIASES.get(name, (name,))) for name in COLUMNS}
    tags = pick(columns, "Tags")
    plan["Tags"] = tags
    plan["x_TagJson"] = json_tags(tags)
    plan["x_IsCorrection"] = "NULL"
    for name in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
        plan[name] = timestamp(plan[name])
    return plan


def oci_cost_plan(columns: Sequence[str]) -> Plan:
    """OCI's cost report. BilledCost and EffectiveCost are ``cost/myCost`` (what the tenancy
    pays; OCI has no amortisation here); ListCost is not derivable (unit prices are the
    customer's), so it stays null."""
    col = partial(pick, columns)
    service = col("product/service")
    categories = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in OCI_CATEGORIES.items())
    tag_map = tags_from_columns(columns, "tags/")
    return {
        "BilledCost": col("cost/myCost"),
        "EffectiveCost": col("cost/myCost"),
        "ListCost": "NULL",
        "ContractedCost": col("cost/myCost"),
        "BillingAccountId": col("cost/subscriptionId"),
        "BillingAccountName": "NULL",
        "BillingCurrency": col("cost/currencyCode"),
        "BillingPeriodStart": "NULL",
        "BillingPeriodEnd": "NULL",
        "ChargeCategory": "'Usage'",
        "ChargeClass": "CASE WHEN lower("
        + col("lineItem/isCorrection")
        + ") = 'true' THEN 'Correction' END",
        "ChargeDescription": col("product/Description"),
        "ChargePeriodStart": timestamp(col("lineItem/intervalUsageStart")),
        "ChargePeriodEnd": timestamp(col("lineItem/intervalUsageEnd")),
        "InvoiceIssuerName": "'Oracle'",
        "ProviderName": "'Oracle'",
        "PublisherName": "'Oracle'",
        "PricingQuantity": col("usage/billedQuantity"),
        "PricingUnit": col("cost/skuUnitDescription"),
        "ConsumedQuantity": col("usage/billedQuantity"),
        "ConsumedUnit": col("cost/skuUnitDescription"),
        "RegionId": col("product/region"),
        "RegionName": col("product/region"),
        "ResourceId": col("product/resourceId"),
        "ResourceName": "NULL",
        "ResourceType": "NULL",
        "ServiceCategory": f"CASE {service} {categories} ELSE 'Other' END",
        "ServiceName": service,
        "SkuId": col("cost/productSku"),
        "SubAccountId": col("lineItem/tenantId"),
        "SubAccountName": "NULL",
        "Tags": f"CASE WHEN cardinality({tag_map}) > 0 THEN to_json({tag_map})::VARCHAR END",
        "x_TagMap": tag_map,
        "x_CompartmentId": col("product/compartmentId"),
        "x_CompartmentName": col("product/compartmentName"),
        "x_ReferenceNumber": col("lineItem/referenceNo"),
        "x_BackReferenceNumber": col("lineItem/backreferenceNo"),
        "x_IsCorrection": f"lower({col('lineItem/isCorrection')})",
    }


PLANS = {
    "focus": focus_plan,
    "aws-cur": aws_cur_plan,
    "aws-cur2": aws_cur2_plan,
    "oci-cost": oci_cost_plan,
}


def plan_for(kind: Kind, columns: Sequence[str]) -> Plan:
    """The canonical column -> SQL expression mapping for a file of ``kind``."""
    plan = PLANS[kind](columns)
    missing = [c for c in COLUMNS if c not in plan and c not in {"x_SourceKind", "x_SourceFile"}]
    for name in missing:
        plan[name] = "NULL"
    return plan

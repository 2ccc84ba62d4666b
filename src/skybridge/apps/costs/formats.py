"""What each delivered file is, and the SQL that maps its columns onto the canonical ones.

Kinds: ``focus`` (FOCUS 1.0-1.4 exports of AWS, OCI, Azure, GCP), ``aws-cur`` (legacy CUR,
``lineItem/...`` columns), ``aws-cur2`` (CUR 2.0, snake_case, ``resource_tags`` a map) and
``oci-cost`` (OCI's proprietary cost report, ``cost/myCost`` and one ``tags/...`` column per
tag). Every expression reads text columns (files are read as text) and yields text, except
``x_TagMap`` (a map); :mod:`.convert` casts and checks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Literal

from skybridge.apps.costs.focus import ALIASES, COLUMNS
from skybridge.core.errors import ValidationError

Kind = Literal["focus", "aws-cur", "aws-cur2", "oci-cost"]
KINDS: tuple[Kind, ...] = ("focus", "aws-cur", "aws-cur2", "oci-cost")
Plan = dict[str, str]

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


def q(name: str) -> str:
    """A column name quoted for SQL (names hold ``/``, ``:`` and even backslashes)."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def detect(columns: Sequence[str]) -> Kind:
    """The kind of file whose header is ``columns``.

    Raises:
        ValidationError: the header matches no known export (names what was expected).
    """
    names = {c.strip() for c in columns}
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


def _pick(columns: Sequence[str], *names: str) -> str:
    """The first of ``names`` present, as text with FOCUS's ``NULL`` spelled as null."""
    present = {c.strip(): c for c in columns}
    for name in names:
        if name in present:
            return f"null_text({q(present[name])})"
    return "NULL"


def _timestamp(expr: str) -> str:
    # Times are read as TIMESTAMPTZ in a UTC session (see convert.connect): '2023-11-13T10:00Z',
    # '...T11:00:00Z', '... 22:00:00' and '+02:00' offsets all land on the right UTC instant.
    return expr


def _tags_from_columns(columns: Sequence[str], prefix: str) -> str:
    entries = [
        f"{{'key': {lit(c.strip()[len(prefix) :])}, 'value': null_text({q(c)})}}"
        for c in columns
        if c.strip().startswith(prefix)
    ]
    if not entries:
        return "MAP {}::MAP(VARCHAR, VARCHAR)"
    listed = f"list_filter([{', '.join(entries)}], lambda e: e.value IS NOT NULL)"
    return f"map_from_entries({listed})::MAP(VARCHAR, VARCHAR)"


def _tags_json(tag_map: str) -> str:
    return f"CASE WHEN cardinality({tag_map}) > 0 THEN to_json({tag_map})::VARCHAR END"


def _json_tags(expr: str) -> str:
    return f"coalesce(TRY_CAST(TRY_CAST({expr} AS JSON) AS MAP(VARCHAR, VARCHAR)), MAP {{}})"


def focus_plan(columns: Sequence[str]) -> Plan:
    plan = {name: _pick(columns, *ALIASES.get(name, (name,))) for name in COLUMNS}
    tags = _pick(columns, "Tags")
    plan["Tags"] = tags
    plan["x_TagMap"] = _json_tags(tags)
    plan["x_IsCorrection"] = "NULL"
    for name in ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"):
        plan[name] = _timestamp(plan[name])
    return plan


def oci_cost_plan(columns: Sequence[str]) -> Plan:
    """OCI's cost report. BilledCost and EffectiveCost are ``cost/myCost`` (what the tenancy
    pays; OCI has no amortisation here); ListCost is not derivable (unit prices are the
    customer's), so it stays null."""
    col = partial(_pick, columns)
    service = col("product/service")
    categories = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in OCI_CATEGORIES.items())
    tag_map = _tags_from_columns(columns, "tags/")
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
        "ChargePeriodStart": _timestamp(col("lineItem/intervalUsageStart")),
        "ChargePeriodEnd": _timestamp(col("lineItem/intervalUsageEnd")),
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


def _aws_effective(line_type: str, unblended: str, sp_effective: str, ri_effective: str) -> str:
    """Amortised cost the way AWS's FOCUS export computes it from CUR columns."""
    return (
        f"CASE {line_type} "
        f"WHEN 'SavingsPlanCoveredUsage' THEN {sp_effective} "
        f"WHEN 'DiscountedUsage' THEN {ri_effective} "
        "WHEN 'SavingsPlanNegation' THEN '0' "
        "WHEN 'SavingsPlanUpfrontFee' THEN '0' "
        "WHEN 'RIFee' THEN '0' "
        f"ELSE {unblended} END"
    )


def _aws_category(line_type: str) -> str:
    return (
        f"CASE WHEN {line_type} IN ('Tax') THEN 'Tax' "
        f"WHEN {line_type} IN ('Credit', 'Refund') THEN 'Credit' "
        f"WHEN {line_type} IN ('RIFee', 'SavingsPlanRecurringFee', 'SavingsPlanUpfrontFee', 'Fee') "
        "THEN 'Purchase' ELSE 'Usage' END"
    )


def aws_cur_plan(columns: Sequence[str]) -> Plan:
    """Legacy CUR: BilledCost ``lineItem/UnblendedCost``, EffectiveCost amortised."""
    col = partial(_pick, columns)
    line_type = col("lineItem/LineItemType")
    unblended = col("lineItem/UnblendedCost")
    effective = _aws_effective(
        line_type,
        unblended,
        col("savingsPlan/SavingsPlanEffectiveCost"),
        col("reservation/EffectiveCost"),
    )
    tag_map = _tags_from_columns(columns, "resourceTags/")
    return _aws_common(
        columns,
        {
            "BilledCost": unblended,
            "EffectiveCost": effective,
            "ListCost": col("pricing/publicOnDemandCost"),
            "ContractedCost": unblended,
            "BillingAccountId": col("bill/PayerAccountId"),
            "BillingAccountName": "NULL",
            "BillingCurrency": col("lineItem/CurrencyCode"),
            "BillingPeriodStart": _timestamp(col("bill/BillingPeriodStartDate")),
            "BillingPeriodEnd": _timestamp(col("bill/BillingPeriodEndDate")),
            "ChargeCategory": _aws_category(line_type),
            "ChargeDescription": col("lineItem/LineItemDescription"),
            "ChargePeriodStart": _timestamp(col("lineItem/UsageStartDate")),
            "ChargePeriodEnd": _timestamp(col("lineItem/UsageEndDate")),
            "PricingQuantity": col("lineItem/UsageAmount"),
            "PricingUnit": col("pricing/unit"),
            "RegionId": col("product/regionCode", "product/region"),
            "RegionName": col("product/location"),
            "ResourceId": col("lineItem/ResourceId"),
            "ServiceCategory": "NULL",
            "ServiceName": col(
                "product/ProductName", "product/servicename", "lineItem/ProductCode"
            ),
            "SkuId": col("product/sku"),
            "SubAccountId": col("lineItem/UsageAccountId"),
            "SubAccountName": "NULL",
            "x_TagMap": tag_map,
        },
    )


def aws_cur2_plan(columns: Sequence[str]) -> Plan:
    """CUR 2.0: fixed snake_case columns; ``resource_tags`` is a map (JSON text in CSV)."""
    col = partial(_pick, columns)
    line_type = col("line_item_line_item_type")
    unblended = col("line_item_unblended_cost")
    effective = _aws_effective(
        line_type,
        unblended,
        col("savings_plan_savings_plan_effective_cost"),
        col("reservation_effective_cost"),
    )
    tags = col("resource_tags")
    return _aws_common(
        columns,
        {
            "BilledCost": unblended,
            "EffectiveCost": effective,
            "ListCost": col("pricing_public_on_demand_cost"),
            "ContractedCost": unblended,
            "BillingAccountId": col("bill_payer_account_id"),
            "BillingAccountName": col("bill_payer_account_name"),
            "BillingCurrency": col("line_item_currency_code"),
            "BillingPeriodStart": _timestamp(col("bill_billing_period_start_date")),
            "BillingPeriodEnd": _timestamp(col("bill_billing_period_end_date")),
            "ChargeCategory": _aws_category(line_type),
            "ChargeDescription": col("line_item_line_item_description"),
            "ChargePeriodStart": _timestamp(col("line_item_usage_start_date")),
            "ChargePeriodEnd": _timestamp(col("line_item_usage_end_date")),
            "PricingQuantity": col("line_item_usage_amount"),
            "PricingUnit": col("pricing_unit"),
            "RegionId": col("product_region_code", "product_region"),
            "RegionName": col("product_location"),
            "ResourceId": col("line_item_resource_id"),
            "ServiceCategory": "NULL",
            "ServiceName": col(
                "product_product_name", "product_servicename", "line_item_product_code"
            ),
            "SkuId": col("product_sku"),
            "SubAccountId": col("line_item_usage_account_id"),
            "SubAccountName": col("line_item_usage_account_name"),
            "Tags": tags,
            "x_TagMap": _json_tags(tags),
        },
    )


def _aws_common(columns: Sequence[str], plan: Plan) -> Plan:
    plan.setdefault(
        "Tags",
        _tags_json(plan["x_TagMap"]),
    )
    fixed = {
        "ChargeClass": "NULL",
        "InvoiceIssuerName": "'Amazon Web Services, Inc.'",
        "ProviderName": "'AWS'",
        "PublisherName": "'Amazon Web Services, Inc.'",
        "ConsumedQuantity": plan["PricingQuantity"],
        "ConsumedUnit": plan["PricingUnit"],
        "ResourceName": "NULL",
        "ResourceType": "NULL",
        "x_CompartmentId": "NULL",
        "x_CompartmentName": "NULL",
        "x_ReferenceNumber": "NULL",
        "x_BackReferenceNumber": "NULL",
        "x_IsCorrection": "NULL",
    }
    return {**fixed, **plan}


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

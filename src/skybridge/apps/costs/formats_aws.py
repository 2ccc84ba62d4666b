"""The AWS CUR mappings: legacy CUR (``lineItem/...``) and CUR 2.0 (snake_case), with
EffectiveCost amortised as AWS's own FOCUS export computes it."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from skybridge.apps.costs.columns_sql import (
    json_tags,
    pick,
    tags_from_columns,
    tags_json,
    timestamp,
)

Plan = dict[str, str]


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
    col = partial(pick, columns)
    line_type = col("lineItem/LineItemType")
    unblended = col("lineItem/UnblendedCost")
    effective = _aws_effective(
        line_type,
        unblended,
        col("savingsPlan/SavingsPlanEffectiveCost"),
        col("reservation/EffectiveCost"),
    )
    tag_map = tags_from_columns(columns, "resourceTags/")
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
            "BillingPeriodStart": timestamp(col("bill/BillingPeriodStartDate")),
            "BillingPeriodEnd": timestamp(col("bill/BillingPeriodEndDate")),
            "ChargeCategory": _aws_category(line_type),
            "ChargeDescription": col("lineItem/LineItemDescription"),
            "ChargePeriodStart": timestamp(col("lineItem/UsageStartDate")),
            "ChargePeriodEnd": timestamp(col("lineItem/UsageEndDate")),
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
    col = partial(pick, columns)
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
            "BillingPeriodStart": timestamp(col("bill_billing_period_start_date")),
            "BillingPeriodEnd": timestamp(col("bill_billing_period_end_date")),
            "ChargeCategory": _aws_category(line_type),
            "ChargeDescription": col("line_item_line_item_description"),
            "ChargePeriodStart": timestamp(col("line_item_usage_start_date")),
            "ChargePeriodEnd": timestamp(col("line_item_usage_end_date")),
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
            "x_TagJson": json_tags(tags),
        },
    )


def _aws_common(columns: Sequence[str], plan: Plan) -> Plan:
    if "Tags" not in plan:
        plan["Tags"] = tags_json(plan["x_TagMap"])
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

"""The canonical schema: FOCUS 1.2 column names, the aliases other versions and providers use,
and the SQL that turns a tag map into the keys a tag policy looks up.

Every ingested file becomes Parquet with exactly :data:`COLUMNS` (FOCUS 1.2 names plus ``x_``
extensions), so the analytics read one schema whatever the source was.
"""

from __future__ import annotations

#: Money columns: exact decimals (18 digits, 10 after the point; OCI reports carry 18).
MONEY = "DECIMAL(18,10)"
#: The canonical columns and their DuckDB types, in file order.
COLUMNS: dict[str, str] = {
    "BilledCost": MONEY,
    "EffectiveCost": MONEY,
    "ListCost": MONEY,
    "ContractedCost": MONEY,
    "BillingAccountId": "VARCHAR",
    "BillingAccountName": "VARCHAR",
    "BillingCurrency": "VARCHAR",
    "BillingPeriodStart": "TIMESTAMP",
    "BillingPeriodEnd": "TIMESTAMP",
    "ChargeCategory": "VARCHAR",
    "ChargeClass": "VARCHAR",
    "ChargeDescription": "VARCHAR",
    "ChargePeriodStart": "TIMESTAMP",
    "ChargePeriodEnd": "TIMESTAMP",
    "InvoiceIssuerName": "VARCHAR",
    "ProviderName": "VARCHAR",
    "PublisherName": "VARCHAR",
    "PricingQuantity": "DOUBLE",
    "PricingUnit": "VARCHAR",
    "ConsumedQuantity": "DOUBLE",
    "ConsumedUnit": "VARCHAR",
    "RegionId": "VARCHAR",
    "RegionName": "VARCHAR",
    "ResourceId": "VARCHAR",
    "ResourceName": "VARCHAR",
    "ResourceType": "VARCHAR",
    "ServiceCategory": "VARCHAR",
    "ServiceName": "VARCHAR",
    "SkuId": "VARCHAR",
    "SubAccountId": "VARCHAR",
    "SubAccountName": "VARCHAR",
    "Tags": "VARCHAR",
    "x_TagKeys": "VARCHAR[]",
    "x_TagValues": "VARCHAR[]",
    "x_CompartmentId": "VARCHAR",
    "x_CompartmentName": "VARCHAR",
    "x_ReferenceNumber": "VARCHAR",
    "x_BackReferenceNumber": "VARCHAR",
    "x_IsCorrection": "BOOLEAN",
    "x_SourceKind": "VARCHAR",
    "x_SourceFile": "VARCHAR",
}
#: Columns a row cannot do without: a row missing one (or unreadable) is rejected, with its line.
REQUIRED = ("BilledCost", "EffectiveCost", "ChargePeriodStart", "ProviderName")

#: Names other FOCUS versions and providers use for a canonical column (1.0-preview, OCI's
#: FOCUS reports without the ``Name`` suffix, 1.3's ServiceProviderName).
ALIASES: dict[str, tuple[str, ...]] = {
    "ProviderName": ("ProviderName", "ServiceProviderName", "Provider"),
    "PublisherName": ("PublisherName", "HostProviderName", "Publisher"),
    "InvoiceIssuerName": ("InvoiceIssuerName", "InvoiceIssuer"),
    "RegionId": ("RegionId", "Region"),
    "ConsumedQuantity": ("ConsumedQuantity", "UsageQuantity"),
    "ConsumedUnit": ("ConsumedUnit", "UsageUnit"),
    "x_CompartmentId": ("oci_CompartmentId",),
    "x_CompartmentName": ("oci_CompartmentName",),
    "x_ReferenceNumber": ("oci_ReferenceNumber",),
    "x_BackReferenceNumber": ("oci_BackReferenceNumber",),
}

#: SQL macros every connection defines. ``tag_key_norm`` folds the per-provider key shapes of
#: one logical tag together: AWS ``user:CostCenter``, OCI defined ``Finance.cost_center``,
#: free-form ``cost-center`` all become ``costcenter``.
MACROS = (
    "SET TimeZone = 'UTC'",
    r"""CREATE OR REPLACE MACRO tag_key_norm(k) AS
        lower(regexp_replace(k, '^(user:|user_|[^.:]+\.)|[^A-Za-z0-9]', '', 'g'))""",
    # Blank or ``NULL`` (any case, any padding trim removes). Only a value that is empty or
    # starts with a space (trim removes ' ' and the Unicode spaces, all outside printable ASCII),
    # n or N can be one: byte comparisons pick those out and the copying trim and upper run on
    # them alone, in the inner CASE. Run on every value of every column they were a third of a
    # conversion's time; behind a flat ``guard AND ...`` condition, still a fifth.
    r"""CREATE OR REPLACE MACRO null_text(v) AS
        CASE WHEN v < '!' OR v >= chr(127) OR (v >= 'N' AND v < 'O') OR (v >= 'n' AND v < 'o')
             THEN CASE WHEN upper(trim(v)) IN ('', 'NULL') THEN NULL ELSE v END
             ELSE v END""",
    # Tags are stored as folded keys and their values (two lists): the first key of a shape wins.
    r"""CREATE OR REPLACE MACRO tag_value(keys, vals, k) AS
        nullif(vals[list_position(keys, tag_key_norm(k))], '')""",
)


def norm_key(key: str) -> str:
    """The Python twin of the ``tag_key_norm`` macro (for policies and tests)."""
    import re

    return re.sub(r"^(user:|user_|[^.:]+\.)|[^A-Za-z0-9]", "", key).lower()


def tag_sql(key: str) -> str:
    """SQL for the value of tag ``key`` (any provider's shape of it) on a canonical row."""
    quoted = "'" + key.replace("'", "''") + "'"
    return f"tag_value(x_TagKeys, x_TagValues, {quoted})"

"""Billing: daily cost from the providers' cost APIs (AWS Cost Explorer, OCI Usage API).

``connect("aws-ce://us-east-1")`` or ``connect("oci-usage://<tenancy-ocid>")`` builds a
:class:`BillingSource`; ``source.daily_costs(start, end, tag_key="cost_center")`` returns
:class:`CostLine` rows.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.billing.base import BillingSource, CostLine, check_period, utc_midnight
from skybridge.core.registry import Registry

__all__ = ["BillingSource", "CostLine", "check_period", "connect", "registry", "utc_midnight"]

registry: Registry[BillingSource] = Registry("billing", BillingSource)  # type: ignore[type-abstract]
registry.register("aws-ce", "skybridge.backends.billing.aws_ce:CostExplorerSource", extra="aws")
registry.register("oci-usage", "skybridge.backends.billing.oci_usage:UsageApiSource", extra="oci")


def connect(url: str, *, setting: str | None = "backends.billing", **options: Any) -> BillingSource:
    """Build the cost source for ``url``.

    Args:
        url: ``aws-ce://REGION?endpoint_url=...`` or
            ``oci-usage://TENANCY_OCID?region=...&endpoint=...`` (OCI credentials as for the
            other ``oci*`` backends).
        setting: The config key named in errors.
        **options: Implementation options (``config=`` an oci config dict).
    """
    return registry.connect(url, setting=setting, **options)

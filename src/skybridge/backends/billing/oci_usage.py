"""``oci-usage://TENANCY_OCID``: the OCI Usage API ``RequestSummarizedUsages``, daily COST by
service (and one tag).

Times are exact UTC midnights (the API refuses any other precision) and ``group_by_tag`` takes
one tag: ``Namespace.Key`` for a defined tag, a bare key for a free-form one. The API has no
amortised view, so BilledCost and EffectiveCost are both ``computedAmount``; a blank currency
(a known API quirk) is read as the tenancy's currency, USD unless ``?currency=`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, Self, TypeVar

import oci

from skybridge.backends.billing.base import BillingSource, CostLine
from skybridge.backends.cloud.oci import (
    build_oci_client,
    credential_params,
    resolve_oci_credentials,
    translate_client_side_error,
    translate_service_error,
)
from skybridge.core.errors import ConfigError, TransientError, ValidationError
from skybridge.core.urls import BackendURL

T = TypeVar("T")
_SETTING = "backends.billing"


def usage_tag(tag_key: str) -> Any:
    """The SDK's ``Tag`` for ``Namespace.Key`` (defined) or ``key`` (free-form)."""
    namespace, dot, key = tag_key.partition(".")
    if dot and namespace and key:
        return oci.usage_api.models.Tag(namespace=namespace, key=key)
    return oci.usage_api.models.Tag(key=tag_key)


class UsageApiSource(BillingSource):
    """Daily cost from the OCI Usage API."""

    provider = "oci"

    def __init__(
        self,
        tenancy_id: str,
        *,
        config: dict[str, Any] | None = None,
        endpoint: str | None = None,
        currency: str = "USD",
        timeout: float = 30.0,
        **params: Any,
    ) -> None:
        if not tenancy_id.startswith("ocid1.tenancy."):
            raise ConfigError(
                f"'{tenancy_id}' is not a tenancy OCID",
                setting=_SETTING,
                hint="write oci-usage://ocid1.tenancy.oc1..<id>",
            )
        self.tenancy_id = tenancy_id
        self.currency = currency
        credentials = resolve_oci_credentials(params, config, setting=_SETTING)
        self._client: Any = build_oci_client(
            oci.usage_api.UsageapiClient,
            credentials,
            setting=_SETTING,
            endpoint=endpoint,
            timeout=(timeout, timeout),
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = credential_params(url.params)
        for name in ("endpoint", "currency"):
            if name in url.params:
                options[name] = url.params[name]
        return cls(url.rest.strip("/"), **params, **options)

    def describe(self) -> str:
        return f"oci-usage://{self.tenancy_id}"

    def ping(self) -> None:
        self._call(lambda: self._client.list_custom_tables(self.tenancy_id, "none", limit=1))

    def _call(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except oci.exceptions.ServiceError as exc:
            text = f"OCI Usage API {exc.status} {exc.code}: {exc.message}"
            if int(exc.status) == 400:
                raise ValidationError(text) from None
            raise translate_service_error(exc, text) from None
        except Exception as exc:
            error = translate_client_side_error(
                exc, unreachable="OCI Usage API unreachable", setting=_SETTING
            )
            if error is not None:
                raise error from None
            if isinstance(exc, OSError):
                raise TransientError(f"OCI Usage API unreachable: {type(exc).__name__}") from None
            raise

    def _daily(self, start: datetime, end: datetime, tag_key: str | None) -> Iterator[CostLine]:
        details = oci.usage_api.models.RequestSummarizedUsagesDetails(
            tenant_id=self.tenancy_id,
            time_usage_started=start,
            time_usage_ended=end,
            granularity="DAILY",
            query_type="COST",
            group_by=["service"],
            group_by_tag=[usage_tag(tag_key)] if tag_key else None,
        )
        page: str | None = None
        while True:
            response = self._call(
                lambda at=page: self._client.request_summarized_usages(details, page=at)  # type: ignore[misc]
            )
            yield from (self._line(item, tag_key) for item in response.data.items or [])
            page = response.next_page
            if not page:
                return

    def _line(self, item: Any, tag_key: str | None) -> CostLine:
        amount = Decimal(str(item.computed_amount or 0))
        tags = item.tags or []
        value = next((t.value for t in tags if t.value), None) if tag_key else None
        return CostLine(
            day=item.time_usage_started.date(),
            provider=self.provider,
            service=item.service or "unknown",
            billed_cost=amount,
            effective_cost=amount,
            currency=item.currency or self.currency,
            tag_key=tag_key,
            tag_value=value,
        )

"""``aws-ce://REGION``: AWS Cost Explorer ``GetCostAndUsage``, daily, by service (and a tag).

BilledCost is ``UnblendedCost`` and EffectiveCost ``AmortizedCost``, as in AWS's FOCUS export.
Each page costs $0.01, so one query asks for both metrics and both groupings at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Self

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.billing.base import BillingSource, CostLine
from skybridge.backends.cloud.aws import boto3_client, classify_botocore
from skybridge.core.urls import BackendURL

_SETTING = "backends.billing"
_INVALID = frozenset({"ValidationException", "DataUnavailableException", "BillExpirationException"})
_TRANSIENT = frozenset({"LimitExceededException"})
METRICS = ("UnblendedCost", "AmortizedCost")


def tag_value(key: str) -> str | None:
    """Cost Explorer writes a tag group as ``key$value`` (``key$`` when untagged)."""
    value = key.partition("$")[2]
    return value or None


class CostExplorerSource(BillingSource):
    """Daily cost from Cost Explorer."""

    provider = "aws"

    def __init__(
        self,
        region: str = "us-east-1",
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
    ) -> None:
        self.region = region or "us-east-1"
        config = Config(retries={"mode": "standard", "total_max_attempts": 1})
        self._client: Any = boto3_client(
            "ce",
            region=self.region,
            endpoint_url=endpoint_url,
            profile=profile,
            config=config,
            setting=_SETTING,
        )

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        params = url.params
        return cls(
            url.rest.strip("/") or "us-east-1",
            endpoint_url=params.get("endpoint_url") or options.get("endpoint_url"),
            profile=params.get("profile") or options.get("profile"),
        )

    def describe(self) -> str:
        return f"aws-ce://{self.region}"

    def ping(self) -> None:
        today = date.today()
        start = today.replace(day=1) if today.day > 1 else date.fromordinal(today.toordinal() - 1)
        self._page(
            {
                "TimePeriod": {"Start": start.isoformat(), "End": today.isoformat()},
                "Granularity": "MONTHLY",
                "Metrics": ["UnblendedCost"],
            }
        )

    def close(self) -> None:
        self._client.close()

    def _page(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self._client.get_cost_and_usage(**request)
        except (ClientError, BotoCoreError) as exc:
            raise classify_botocore(
                exc,
                service="Cost Explorer",
                subject="GetCostAndUsage",
                invalid=_INVALID,
                transient=_TRANSIENT,
                setting=_SETTING,
            ) from None
        return answer

    def _daily(self, start: datetime, end: datetime, tag_key: str | None) -> Iterator[CostLine]:
        group_by = [{"Type": "DIMENSION", "Key": "SERVICE"}]
        if tag_key:
            group_by.append({"Type": "TAG", "Key": tag_key})
        request: dict[str, Any] = {
            "TimePeriod": {"Start": start.date().isoformat(), "End": end.date().isoformat()},
            "Granularity": "DAILY",
            "Metrics": list(METRICS),
            "GroupBy": group_by,
        }
        while True:
            answer = self._page(request)
            for period in answer.get("ResultsByTime", []):
                yield from self._lines(period, tag_key)
            token = answer.get("NextPageToken")
            if not token:
                return
            request["NextPageToken"] = token

    def _lines(self, period: dict[str, Any], tag_key: str | None) -> Iterator[CostLine]:
        day = date.fromisoformat(period["TimePeriod"]["Start"])
        for group in period.get("Groups", []):
            keys = group["Keys"]
            metrics = group["Metrics"]
            billed, effective = (metrics.get(m, {"Amount": "0"}) for m in METRICS)
            yield CostLine(
                day=day,
                provider=self.provider,
                service=keys[0],
                billed_cost=Decimal(billed["Amount"]),
                effective_cost=Decimal(effective["Amount"]),
                currency=billed.get("Unit") or "USD",
                tag_key=tag_key,
                tag_value=tag_value(keys[1]) if tag_key and len(keys) > 1 else None,
            )

"""The billing contract: daily cost from a provider's cost API, grouped by service (and one tag).

An implementation writes one primitive, :meth:`BillingSource._daily`, that returns every
:class:`CostLine` of ``[start, end)`` (all pages) and translates its SDK's errors. The base checks
the period (whole UTC days, start before end, at most a year: the APIs refuse more or charge per
page) and passes exact UTC midnights, which the OCI Usage API requires.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from skybridge.core.backend import Backend
from skybridge.core.errors import ValidationError

#: The longest period one query may cover (Cost Explorer and the Usage API refuse more).
MAX_DAYS = 366


@dataclass(frozen=True)
class CostLine:
    """The cost of one service (and tag value) on one UTC day."""

    day: date
    provider: str
    service: str
    billed_cost: Decimal
    effective_cost: Decimal
    currency: str
    tag_key: str | None = None
    tag_value: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "provider": self.provider,
            "service": self.service,
            "billed_cost": str(self.billed_cost),
            "effective_cost": str(self.effective_cost),
            "currency": self.currency,
            "tag_key": self.tag_key,
            "tag_value": self.tag_value,
        }


def utc_midnight(day: date) -> datetime:
    """``day`` at 00:00:00.000 UTC (the Usage API refuses any other precision)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def check_period(start: date, end: date) -> None:
    """Refuse an empty, reversed or over-long period (``ValidationError`` saying what to fix)."""
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise ValidationError("give whole days (dates), not times: the APIs count UTC days")
    if end <= start:
        raise ValidationError(
            f"the period {start}..{end} is empty: the end must be after the start"
        )
    if end - start > timedelta(days=MAX_DAYS):
        raise ValidationError(f"the period {start}..{end} is longer than {MAX_DAYS} days")


class BillingSource(Backend):
    """Daily cost from one provider's cost API."""

    provider: str = ""
    capabilities = frozenset({"tags"})

    @abstractmethod
    def _daily(self, start: datetime, end: datetime, tag_key: str | None) -> Iterator[CostLine]:
        """Every line of ``[start, end)`` (UTC midnights), grouped by service and ``tag_key``."""

    def daily_costs(self, start: date, end: date, *, tag_key: str | None = None) -> list[CostLine]:
        """Cost per day and service (and value of ``tag_key``) from ``start`` up to ``end``.

        Args:
            start: First day (inclusive).
            end: Day after the last (exclusive), as the provider APIs count.
            tag_key: Group by this tag too (one tag: the OCI Usage API takes no more).

        Raises:
            ValidationError: the period is empty, reversed, over a year, or not whole days.
        """
        check_period(start, end)
        if tag_key is not None and not tag_key.strip():
            raise ValidationError("the tag key is empty")
        lines = list(self._daily(utc_midnight(start), utc_midnight(end), tag_key))
        return sorted(lines, key=lambda x: (x.day, x.service, x.tag_value or ""))

    def describe(self) -> str:
        return f"{self.provider or 'billing'} cost API"

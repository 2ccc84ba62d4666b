"""The billing contract: every :class:`~skybridge.backends.billing.BillingSource` returns the
same daily lines for the same recorded cost.

A backend's test file subclasses :class:`BillingContract` with a ``source`` fixture and a
``record`` fixture: ``record(DATASET, tag_key)`` puts :data:`DATASET` where the source will read
it (moto's canned Cost Explorer results, the OCI emulator's usage items) for the one query the
test then makes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from skybridge.backends.billing import BillingSource, CostLine
from skybridge.core.errors import ValidationError

#: (day, service, cost_center or None, billed, effective)
Row = tuple[date, str, str | None, Decimal, Decimal]
DATASET: list[Row] = [
    (date(2024, 9, 1), "Compute", "CC-101", Decimal("10.50"), Decimal("10.50")),
    (date(2024, 9, 1), "Compute", None, Decimal("1.25"), Decimal("1.25")),
    (date(2024, 9, 1), "Storage", "CC-202", Decimal("3.10"), Decimal("3.10")),
    (date(2024, 9, 2), "Compute", "CC-101", Decimal("11.00"), Decimal("11.00")),
    (date(2024, 9, 2), "Storage", "CC-202", Decimal("2.90"), Decimal("2.90")),
    (date(2024, 9, 3), "Compute", "CC-303", Decimal("7.75"), Decimal("7.75")),
]
START, END = date(2024, 9, 1), date(2024, 9, 4)
Record = Callable[[list[Row], "str | None"], None]


def by_day_service(lines: list[CostLine]) -> dict[tuple[date, str], Decimal]:
    totals: dict[tuple[date, str], Decimal] = {}
    for line in lines:
        totals[line.day, line.service] = (
            totals.get((line.day, line.service), Decimal(0)) + line.billed_cost
        )
    return totals


class BillingContract:
    """Subclass with ``source`` and ``record`` fixtures."""

    def test_ping_answers(self, source: BillingSource) -> None:
        source.ping()  # what `skybridge check` and the Backends page call

    def test_daily_cost_by_service(self, source: BillingSource, record: Record) -> None:
        record(DATASET, None)
        lines = source.daily_costs(START, END)
        expected: dict[tuple[date, str], Decimal] = {}
        for day, service, _, billed, _ in DATASET:
            expected[day, service] = expected.get((day, service), Decimal(0)) + billed
        assert {
            k: v.quantize(Decimal("0.01")) for k, v in by_day_service(lines).items()
        } == expected
        assert {line.provider for line in lines} == {source.provider}
        assert all(line.currency == "USD" for line in lines)

    def test_daily_cost_by_service_and_tag(self, source: BillingSource, record: Record) -> None:
        record(DATASET, "cost_center")
        lines = source.daily_costs(START, END, tag_key="cost_center")
        found = {
            (x.day, x.service, x.tag_value): x.billed_cost.quantize(Decimal("0.01")) for x in lines
        }
        assert found == {(d, s, t): b for d, s, t, b, _ in DATASET}
        assert all(line.tag_key == "cost_center" for line in lines)

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            (date(2024, 9, 4), date(2024, 9, 1)),
            (date(2024, 9, 1), date(2024, 9, 1)),
            (date(2023, 1, 1), date(2024, 9, 1)),
        ],
    )
    def test_a_bad_period_is_refused_before_any_call(
        self, source: BillingSource, start: date, end: date
    ) -> None:
        with pytest.raises(ValidationError):
            source.daily_costs(start, end)

    def test_an_empty_tag_key_is_refused(self, source: BillingSource) -> None:
        with pytest.raises(ValidationError):
            source.daily_costs(START, END, tag_key=" ")

"""Budgets: month-to-date spend per budget against its amount, the month-end forecasts, and one
alert per incident through the ``notify`` backend.

An incident is one budget crossing one threshold (actual or forecast) in one month: it is
announced once, whichever process or how often the check runs (the ledger records it before the
message goes out and forgets it again when sending fails, so a later run retries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from skybridge.apps.costs.analytics import CostData, Period
from skybridge.apps.costs.config import BudgetSpec
from skybridge.apps.costs.forecast import Forecast, forecast_month, month_bounds
from skybridge.apps.costs.ledger import Ledger
from skybridge.backends.notify import Notification, Notifier, Severity

HISTORY_DAYS = 56


@dataclass
class BudgetStatus:
    """One budget at ``as_of``."""

    spec: BudgetSpec
    forecast: Forecast
    crossed: list[tuple[str, float]] = field(default_factory=list)

    @property
    def actual(self) -> float:
        return self.forecast.month_to_date

    @property
    def month(self) -> str:
        return self.forecast.as_of.strftime("%Y-%m")

    def share(self, value: float | None) -> float | None:
        return None if value is None else value / self.spec.amount

    def to_dict(self) -> dict[str, Any]:
        f = self.forecast
        return {
            "name": self.spec.name,
            "dimension": self.spec.dimension,
            "value": self.spec.value,
            "amount": self.spec.amount,
            "month": self.month,
            "as_of": f.as_of.isoformat(),
            "actual": round(self.actual, 6),
            "actual_share": self.share(self.actual),
            "forecast": None if f.expected is None else round(f.expected, 6),
            "forecast_share": self.share(f.expected),
            "run_rate": None if f.run_rate is None else round(f.run_rate, 6),
            "forecast_method": f.method,
            "crossed": [{"kind": kind, "threshold": t} for kind, t in self.crossed],
        }


def budget_series(data: CostData, spec: BudgetSpec, as_of: date) -> dict[date, float]:
    """The budget's daily spend for the weeks before ``as_of``."""
    period = Period(as_of - timedelta(days=HISTORY_DAYS - 1), as_of)
    dimension = None if spec.dimension == "total" else spec.dimension
    series = data.daily(period, dimension)
    key = "total" if dimension is None else str(spec.value)
    found = series.get(key, {})
    return {
        period.start + timedelta(days=i): float(found.get(period.start + timedelta(days=i), 0))
        for i in range(period.days)
    }


def budget_status(data: CostData, spec: BudgetSpec, as_of: date) -> BudgetStatus:
    forecast = forecast_month(budget_series(data, spec, as_of), as_of)
    status = BudgetStatus(spec, forecast)
    for threshold in spec.actual_thresholds:
        if forecast.month_to_date >= threshold * spec.amount:
            status.crossed.append(("actual", threshold))
    for threshold in spec.forecast_thresholds:
        if forecast.expected is not None and forecast.expected >= threshold * spec.amount:
            status.crossed.append(("forecast", threshold))
    return status


def evaluate(data: CostData, specs: list[BudgetSpec], as_of: date) -> list[BudgetStatus]:
    return [budget_status(data, spec, as_of) for spec in specs]


def incident(status: BudgetStatus, kind: str, threshold: float) -> str:
    return f"budget:{status.spec.name}:{status.month}:{kind}:{threshold:g}"


def _notification(status: BudgetStatus, kind: str, threshold: float, key: str) -> Notification:
    spec = status.spec
    where = "all spend" if spec.dimension == "total" else f"{spec.dimension}={spec.value}"
    value = status.actual if kind == "actual" else (status.forecast.expected or 0.0)
    verb = "has reached" if kind == "actual" else "is forecast to reach"
    severity = Severity.CRITICAL if threshold >= 1 else Severity.WARNING
    return Notification(
        title=f"Budget {spec.name} {verb} {threshold:.0%} in {status.month}",
        body=f"{where}: {value:,.2f} against a budget of {spec.amount:,.2f} ({kind}).",
        severity=severity,
        dedup_key=key,
        fields={
            "budget": spec.name,
            "month": status.month,
            "kind": kind,
            "amount": f"{spec.amount:.2f}",
            kind: f"{value:.2f}",
        },
        source="costs",
    )


def send_alerts(
    statuses: list[BudgetStatus], notifier: Notifier, ledger: Ledger
) -> list[dict[str, Any]]:
    """Announce each crossed threshold not announced before; returns what was sent."""
    sent = []
    for status in statuses:
        for kind, threshold in status.crossed:
            key = incident(status, kind, threshold)
            body = {
                "budget": status.spec.name,
                "month": status.month,
                "threshold": threshold,
                "alert": kind,
            }
            if not ledger.claim_incident(key, "budget", body):
                continue
            try:
                notifier.send(_notification(status, kind, threshold, key))
            except BaseException:
                ledger.release_incident(key)
                raise
            sent.append({"incident": key, **body})
    return sent


def month_period(as_of: date) -> Period:
    start, _ = month_bounds(as_of)
    return Period(start, as_of)

"""The multi-cloud summary of a period: totals (BilledCost and EffectiveCost) overall and per
provider, top services, accounts and allocation-tag values, and the daily trend."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from skybridge.apps.costs.analytics import CostData, Period

TOP = 10


def money(value: Any) -> float:
    """A cost as a float rounded to 1e-6 (JSON has no decimals; cents are exact at that)."""
    return round(float(value or 0), 6)


def summary(data: CostData, period: Period, allocation_tag: str) -> dict[str, Any]:
    """The summary of ``period`` as plain data (what ``costs report --json`` prints)."""
    providers = data.totals(period)
    billed = sum((Decimal(p["billed_cost"] or 0) for p in providers), Decimal(0))
    effective = sum((Decimal(p["effective_cost"] or 0) for p in providers), Decimal(0))
    currencies = sorted({p["currency"] for p in providers if p["currency"]})
    daily = data.daily(period, "provider")
    return {
        "period": period.to_dict(),
        "currency": currencies[0] if len(currencies) == 1 else currencies,
        "total": {
            "billed_cost": money(billed),
            "effective_cost": money(effective),
            "rows": sum(p["rows"] for p in providers),
        },
        "providers": [
            {
                "provider": p["provider"],
                "currency": p["currency"],
                "billed_cost": money(p["billed_cost"]),
                "effective_cost": money(p["effective_cost"]),
                "rows": p["rows"],
            }
            for p in providers
        ],
        "services": _rows(data.breakdown("service", period, limit=TOP)),
        "accounts": _rows(data.breakdown("account", period, limit=TOP)),
        "allocation": {
            "tag": allocation_tag,
            "values": _rows(data.breakdown(f"tag:{allocation_tag}", period, limit=TOP)),
        },
        "daily": {
            provider: [
                {"day": d.isoformat(), "effective_cost": money(v)}
                for d, v in sorted(values.items())
            ]
            for provider, values in sorted(daily.items())
        },
    }


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"value": r["value"], "effective_cost": money(r["cost"])} for r in rows]


def csv_lines(report: dict[str, Any]) -> list[list[str]]:
    """The summary as CSV rows: one per provider and the total, then the top services."""
    lines = [["section", "name", "billed_cost", "effective_cost", "rows"]]
    for p in report["providers"]:
        lines.append(
            [
                "provider",
                p["provider"],
                f"{p['billed_cost']:.6f}",
                f"{p['effective_cost']:.6f}",
                str(p["rows"]),
            ]
        )
    total = report["total"]
    lines.append(
        [
            "total",
            "all",
            f"{total['billed_cost']:.6f}",
            f"{total['effective_cost']:.6f}",
            str(total["rows"]),
        ]
    )
    lines += [
        ["service", s["value"], "", f"{s['effective_cost']:.6f}", ""] for s in report["services"]
    ]
    return lines

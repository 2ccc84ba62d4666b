"""The costs page's charts with the app kit: daily spend with the forecast, top services and
the tag policy's share of spend as tables. (``charts.py`` draws the same as image files for
``skybridge costs report --charts``.)"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from skybridge.apps.kit.web import Column, Line, Plot, Table


def _epoch(day: str) -> float:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()


def trend_plot(report: dict[str, Any], forecast: dict[str, Any] | None) -> Plot | None:
    """Daily EffectiveCost per provider and, with several, all together (the line the
    forecast continues), and the month's forecast with its 90% band."""
    daily: dict[str, list[dict[str, Any]]] = report["daily"]
    ahead = (forecast or {}).get("days") or []
    days = sorted({x["day"] for rows in daily.values() for x in rows} | {x["day"] for x in ahead})
    if not days:
        return None

    def line(label: str, by_day: dict[str, float], style: Any = "line") -> Line:
        return Line(label, [by_day.get(day) for day in days], style)

    lines = [
        line(provider, {x["day"]: x["effective_cost"] for x in rows})
        for provider, rows in sorted(daily.items())
    ]
    if len(daily) > 1:  # the line the forecast, made for all providers, continues
        total: dict[str, float] = {}
        for rows in daily.values():
            for x in rows:
                total[x["day"]] = total.get(x["day"], 0.0) + x["effective_cost"]
        lines.append(line("all providers", total))
    if ahead:
        expected = {x["day"]: x["expected"] for x in ahead}
        lines.append(line("forecast, all providers", expected, "dashed"))
        for key, label in (("low", "90% low"), ("high", "90% high")):
            lines.append(line(label, {x["day"]: x[key] for x in ahead}, "bound"))
    currency = report.get("currency")
    unit = currency if isinstance(currency, str) else ""
    return Plot(
        "Daily spend (EffectiveCost)", [_epoch(d) for d in days], lines, unit=unit, name="trend"
    )


def services_table(report: dict[str, Any]) -> Table:
    """The top services by EffectiveCost with their share of the total."""
    total = float(report["total"].get("effective_cost") or 0.0)
    rows = [
        {
            "service": row["value"],
            "cost": f"{row['effective_cost']:,.2f}",
            "share": f"{row['effective_cost'] / total:.1%}" if total else "",
        }
        for row in report["services"]
    ]
    columns = [Column("service"), Column("cost", "Effective cost", numeric=True)]
    columns.append(Column("share", "Share", numeric=True))
    return Table(columns, rows, empty="No spend in this period.", name="top-services")


def untagged_table(compliance: dict[str, Any]) -> Table:
    """Per provider, the share of taggable spend that breaks the tag policy."""
    rows = [
        {"provider": row["value"], "share": f"{row['noncompliant_share']:.1%}"}
        for row in compliance["by"]["provider"]
    ]
    columns = [Column("provider"), Column("share", "Breaking the policy", numeric=True)]
    return Table(columns, rows, empty="No taggable spend.", name="untagged-share")

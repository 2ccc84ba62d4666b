"""Month-end forecasts of daily spend: OCI's run-rate formula as the baseline, and a seasonal
model (day-of-week profile times a robust recent level) with a prediction band.

* run rate (OCI Budgets): month-to-date / days elapsed x days in the month; OCI computes it only
  from the third day on, and so do we;
* seasonal: each weekday's share of a typical week, from up to four weeks before ``as_of``,
  times the median de-seasonalised cost of the last seven days; the band is that level's spread
  (1.645 sigma: a 90% band), widened by the square root of the days left for the month's total.
  With fewer than 14 days of history the seasonal model falls back to the run rate.
"""

from __future__ import annotations

import calendar
import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

MIN_RUN_RATE_DAYS = 3
MIN_SEASONAL_DAYS = 14
PROFILE_DAYS = 28
LEVEL_DAYS = 7
Z90 = 1.645


def month_bounds(day: date) -> tuple[date, date]:
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def run_rate(month_to_date: float, as_of: date) -> float | None:
    """OCI's forecast: actual / days processed x days in the month (``None`` before day 3)."""
    start, last = month_bounds(as_of)
    elapsed = (as_of - start).days + 1
    if elapsed < MIN_RUN_RATE_DAYS:
        return None
    return month_to_date / elapsed * last.day


def weekday_profile(history: dict[date, float], as_of: date) -> dict[int, float]:
    """Each weekday's cost relative to the average day (1.0 = average), from the last 4 weeks."""
    window = [d for d in history if as_of - timedelta(days=PROFILE_DAYS) < d <= as_of]
    by_weekday: dict[int, list[float]] = {}
    for day in window:
        by_weekday.setdefault(day.weekday(), []).append(history[day])
    medians = {w: statistics.median(v) for w, v in by_weekday.items()}
    overall = statistics.fmean(medians.values()) if medians else 0.0
    if overall <= 0 or len(medians) < 7:
        return dict.fromkeys(range(7), 1.0)
    return {w: medians[w] / overall for w in range(7)}


@dataclass
class Forecast:
    """A month-end forecast at ``as_of`` and the expected cost of each remaining day."""

    as_of: date
    month_to_date: float
    run_rate: float | None
    expected: float | None
    low: float | None
    high: float | None
    method: str
    days: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        start, _ = month_bounds(self.as_of)
        return {
            "as_of": self.as_of.isoformat(),
            "month": start.strftime("%Y-%m"),
            "month_to_date": round(self.month_to_date, 6),
            "run_rate_month_end": None if self.run_rate is None else round(self.run_rate, 6),
            "forecast_month_end": None if self.expected is None else round(self.expected, 6),
            "low": None if self.low is None else round(self.low, 6),
            "high": None if self.high is None else round(self.high, 6),
            "method": self.method,
            "days": self.days,
        }


def forecast_month(history: dict[date, float], as_of: date) -> Forecast:
    """The month-end forecast for the month of ``as_of`` from the daily ``history`` up to it."""
    start, end = month_bounds(as_of)
    mtd = sum(v for d, v in history.items() if start <= d <= as_of)
    baseline = run_rate(mtd, as_of)
    known = sorted(d for d in history if d <= as_of)
    if len(known) < MIN_SEASONAL_DAYS:
        return Forecast(as_of, mtd, baseline, baseline, baseline, baseline, "run-rate")
    profile = weekday_profile(history, as_of)
    recent = [
        history[d] / profile[d.weekday()] for d in known[-LEVEL_DAYS:] if profile[d.weekday()] > 0
    ]
    level = statistics.median(recent) if recent else 0.0
    spread = _spread(history, known, profile)
    days, remaining = [], 0.0
    for offset in range(1, (end - as_of).days + 1):
        day = as_of + timedelta(days=offset)
        expected = level * profile[day.weekday()]
        band = Z90 * spread * profile[day.weekday()]
        days.append(
            {
                "day": day.isoformat(),
                "expected": expected,
                "low": max(0.0, expected - band),
                "high": expected + band,
            }
        )
        remaining += expected
    width = Z90 * spread * max(1, len(days)) ** 0.5 if days else 0.0
    total = mtd + remaining
    return Forecast(
        as_of, mtd, baseline, total, max(mtd, total - width), total + width, "seasonal", days
    )


def _spread(history: dict[date, float], known: list[date], profile: dict[int, float]) -> float:
    values = [
        history[d] / profile[d.weekday()] for d in known[-PROFILE_DAYS:] if profile[d.weekday()] > 0
    ]
    if len(values) < 2:
        return 0.0
    center = statistics.median(values)
    mad = statistics.median(abs(v - center) for v in values)
    return 1.4826 * mad

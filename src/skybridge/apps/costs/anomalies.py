"""Anomalies in daily cost per dimension value: a seasonal baseline and a robust threshold.

For each day with at least a week of history before it (counted from the series' first
cost), the expected cost is the median of the previous seven days scaled by that weekday's
share of a typical week (from up to four weeks before); the scale is 1.4826 x the median
absolute deviation of the de-seasonalised previous eight weeks, at least 10% of the expected
cost. A day is an anomaly when its cost is ``threshold`` scales above expected **and** more
than ``min_impact`` dollars above it. The dollar impact is the excess; the contributors are the
services and resources whose cost that day grew most against their own previous week.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from skybridge.apps.costs.analytics import CostData, Period, dimension_sql
from skybridge.apps.costs.forecast import weekday_profile

MIN_HISTORY = 7
WINDOW = 56
FLOOR_SHARE = 0.1


@dataclass(frozen=True)
class Spike:
    """One day whose cost broke the threshold."""

    day: date
    actual: float
    expected: float
    score: float

    @property
    def impact(self) -> float:
        return self.actual - self.expected


def detect_spikes(
    series: dict[date, float], *, threshold: float, min_impact: float, since: date | None = None
) -> list[Spike]:
    """The anomalous days of one daily series (days after ``since`` only, when given)."""
    days = sorted(series)
    # Days before the series' first cost are no history: a new service is not an anomaly.
    first = next((i for i, d in enumerate(days) if series[d]), len(days))
    found = []
    for index, day in enumerate(days):
        if index - first < MIN_HISTORY or (since is not None and day < since):
            continue
        history = {d: series[d] for d in days[max(0, index - WINDOW) : index]}
        spike = _judge(day, series[day], history, threshold, min_impact)
        if spike is not None:
            found.append(spike)
    return found


def _judge(
    day: date, actual: float, history: dict[date, float], threshold: float, min_impact: float
) -> Spike | None:
    last = max(history)
    profile = weekday_profile(history, last) if len(history) >= 14 else dict.fromkeys(range(7), 1.0)
    recent = sorted(history)[-MIN_HISTORY:]
    level = statistics.median(
        history[d] / profile[d.weekday()] for d in recent if profile[d.weekday()] > 0
    )
    expected = level * profile[day.weekday()]
    flat = [history[d] / profile[d.weekday()] for d in history if profile[d.weekday()] > 0]
    center = statistics.median(flat)
    mad = statistics.median(abs(v - center) for v in flat)
    scale = max(1.4826 * mad * profile[day.weekday()], FLOOR_SHARE * expected, 1e-9)
    score = (actual - expected) / scale
    if score > threshold and actual - expected > min_impact:
        return Spike(day, actual, expected, score)
    return None


@dataclass
class Anomaly:
    """An anomaly of one dimension value, with what drove it."""

    dimension: str
    value: str
    spike: Spike
    contributors: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.spike.day.isoformat(),
            "dimension": self.dimension,
            "value": self.value,
            "actual": round(self.spike.actual, 6),
            "expected": round(self.spike.expected, 6),
            "impact": round(self.spike.impact, 6),
            "score": round(self.spike.score, 2),
            "contributors": self.contributors,
        }


def find_anomalies(
    data: CostData, period: Period, dimension: str, *, threshold: float, min_impact: float
) -> list[Anomaly]:
    """Anomalies of each value of ``dimension`` on the days of ``period`` (history before it
    is read too), largest impact first."""
    history = Period(period.start - timedelta(days=WINDOW), period.end)
    found = []
    for value, series in data.daily(history, dimension).items():
        floats = {d: float(v) for d, v in series.items()}
        for spike in detect_spikes(
            floats, threshold=threshold, min_impact=min_impact, since=period.start
        ):
            found.append(Anomaly(dimension, value, spike))
    drivers = contributors(data, dimension, [(a.value, a.spike.day) for a in found])
    for anomaly in found:
        anomaly.contributors = drivers.get((anomaly.value, anomaly.spike.day), [])
    return sorted(found, key=lambda a: -a.spike.impact)


def contributors(
    data: CostData, dimension: str, spikes: list[tuple[str, date]], limit: int = 3
) -> dict[tuple[str, date], list[dict[str, Any]]]:
    """For each ``(value, day)`` of ``dimension``: the service/resource pairs whose cost on
    that day grew most against the week before (one query for all of them)."""
    if not spikes:
        return {}
    expr = f"coalesce(CAST({dimension_sql(dimension)} AS VARCHAR), '(none)')"
    pairs = ", ".join("(?, ?::DATE)" for _ in spikes)
    on_day = "coalesce(sum(EffectiveCost) FILTER (x_Day = s.day), 0)"
    usual = "coalesce(sum(EffectiveCost) FILTER (x_Day < s.day), 0) / 7"
    rows = data.records(
        f"""WITH s(value, day) AS (VALUES {pairs})
            SELECT s.value AS x_value, s.day AS x_spike,
                   ServiceName AS service, coalesce(ResourceId, '(no resource id)') AS resource,
                   ({on_day})::DOUBLE AS cost, ({usual})::DOUBLE AS usual,
                   ({on_day} - {usual})::DOUBLE AS increase
            FROM costs JOIN s ON {expr} = s.value
                 AND x_Day BETWEEN s.day - INTERVAL 7 DAY AND s.day
            GROUP BY s.value, s.day, service, resource HAVING increase > 0
            QUALIFY row_number() OVER (
                PARTITION BY s.value, s.day ORDER BY increase DESC, service, resource
            ) <= {int(limit)}
            ORDER BY x_value, x_spike, increase DESC, service, resource""",
        [x for value, day in spikes for x in (value, day.isoformat())],
    )
    found: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row.pop("x_value"), row.pop("x_spike"))
        found.setdefault(key, []).append(row)
    return found

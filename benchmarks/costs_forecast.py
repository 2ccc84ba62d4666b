"""Forecast accuracy and anomaly detection quality of the costs app, each against a baseline
measured in the same run.

Forecasts: month-end forecasts at day 10 and day 20 of each month, MAPE against the month's
actual total, ours (seasonal: weekday profile x robust recent level) vs OCI's run-rate formula
(the anchor). The series are synthetic (no public multi-month cost series exists): 40 daily
cost series over 12 months with a weekday/weekend pattern, monthly growth of -5%..+10%, 5-15%
noise and, in a fifth of the months, a workload that starts or stops mid-month (seeded).

Anomalies: the FOCUS 1.0 sample's daily BilledCost per service (those with a cost on most days;
EffectiveCost is mostly zero in the sample) (30 days) tiled to 120 days
around each service's mean day (weekday pattern, 10% noise), 30 spikes injected (2-6x the
service's median day) at seeded random days after the first three weeks; also, on a ``#`` line,
the sample's own noisy 30 days with 6 spikes from day 15; ours (seasonal baseline + MAD
threshold) vs a trailing 14-day mean + 3 sigma rule (the anchor). Precision and recall count a
detection on the injected day.

Prints ``<claim>: ours=<x> anchor=<y> ratio=<r> goal=<g> PASS|FAIL`` (higher ratio is better):
``forecast_mape_day10``/``day20`` (ratio = anchor MAPE / ours), ``anomaly_f1`` (ratio = ours /
anchor), with precision and recall on ``#`` lines.

Run: ``.venv/bin/python benchmarks/costs_forecast.py [--seed 7]``
"""

from __future__ import annotations

import argparse
import calendar
import random
import statistics
import tempfile
from datetime import date, timedelta
from pathlib import Path

from skybridge.apps.costs.analytics import Period
from skybridge.apps.costs.anomalies import detect_spikes
from skybridge.apps.costs.forecast import forecast_month, run_rate
from skybridge.apps.costs.ingest import CostStore

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "focus" / "focus-1.0" / "focus_sample.csv"
START = date(2024, 1, 1)


def synthetic_series(rng: random.Random) -> dict[date, float]:
    level = rng.lognormvariate(4, 1)
    weekend = rng.uniform(0.3, 1.0)
    noise = rng.uniform(0.05, 0.15)
    found: dict[date, float] = {}
    day = START
    for month in range(12):
        growth = rng.uniform(-0.05, 0.10)
        shift_day = rng.randint(5, 25) if rng.random() < 0.2 else None
        shift = rng.uniform(0.6, 1.6)
        days = calendar.monthrange(day.year, day.month)[1]
        for d in range(days):
            base = level * (1 + growth) ** (d / days)
            if shift_day is not None and d + 1 >= shift_day:
                base *= shift
            factor = weekend if day.weekday() >= 5 else 1.0
            found[day] = max(0.0, base * factor * rng.gauss(1, noise))
            day += timedelta(days=1)
        level *= (1 + growth) * (shift if shift_day else 1.0)
        del month
    return found


def forecast_errors(series: dict[date, float], at_day: int) -> tuple[list[float], list[float]]:
    ours, anchor = [], []
    for month in range(3, 13):
        first = date(2024, month, 1)
        last = first.replace(day=calendar.monthrange(2024, month)[1])
        actual = sum(v for d, v in series.items() if first <= d <= last)
        as_of = first.replace(day=at_day)
        known = {d: v for d, v in series.items() if d <= as_of}
        forecast = forecast_month(known, as_of)
        mtd = sum(v for d, v in known.items() if d >= first)
        baseline = run_rate(mtd, as_of)
        assert forecast.expected is not None
        assert baseline is not None
        ours.append(abs(forecast.expected - actual) / actual)
        anchor.append(abs(baseline - actual) / actual)
    return ours, anchor


def sample_daily() -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        store = CostStore(Path(tmp))
        store.ingest_file(SAMPLE)
        with store.data() as data:
            series = data.daily(
                Period(date(2024, 9, 1), date(2024, 9, 30)), "service", metric="BilledCost"
            )
    daily = {k: [float(v) for _, v in sorted(s.items())] for k, s in series.items()}
    return {k: v for k, v in daily.items() if statistics.median(v) > 0}


def zscore_spikes(series: dict[date, float]) -> set[date]:
    days = sorted(series)
    found = set()
    for i in range(14, len(days)):
        window = [series[d] for d in days[i - 14 : i]]
        mean, sd = statistics.fmean(window), statistics.pstdev(window)
        if series[days[i]] > mean + 3 * max(sd, 1e-9):
            found.add(days[i])
    return found


def inject(
    rng: random.Random, series: dict[str, dict[date, float]], spikes: int, first: int
) -> set[tuple[str, date]]:
    """Add ``spikes`` spikes of 2-6x a service's median day on random days from day ``first``."""
    names, days = sorted(series), sorted(next(iter(series.values())))
    truth: set[tuple[str, date]] = set()
    for _ in range(spikes * 100):
        if len(truth) == spikes:
            break
        name, day = rng.choice(names), rng.choice(days[first:])
        median = statistics.median(series[name].values())
        if median > 0 and (name, day) not in truth:
            series[name][day] += median * rng.uniform(2, 6)
            truth.add((name, day))
    return truth


def detect_both(
    series: dict[str, dict[date, float]],
) -> tuple[set[tuple[str, date]], set[tuple[str, date]]]:
    ours = {
        (n, s.day)
        for n, v in series.items()
        for s in detect_spikes(v, threshold=4.0, min_impact=0.0)
    }
    anchor = {(n, d) for n, v in series.items() for d in zscore_spikes(v)}
    return ours, anchor


def anomaly_scores(
    rng: random.Random, spikes: int
) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
    """(precision, recall) of ours and the anchor on two sets built from the sample: ``smooth``
    (120 days around each service's mean day: weekday pattern, 10% noise) and ``raw`` (the
    sample's own 30 days, spikes from day 15)."""
    daily = sample_daily()
    smooth = {
        name: {
            START + timedelta(days=i): statistics.fmean(values)
            * (0.6 if (START + timedelta(days=i)).weekday() >= 5 else 1.0)
            * rng.gauss(1, 0.1)
            for i in range(120)
        }
        for name, values in daily.items()
    }
    raw = {
        name: {START + timedelta(days=i): v for i, v in enumerate(values)}
        for name, values in daily.items()
    }
    results = {}
    for label, series, count, first in (
        ("smooth", smooth, spikes, 21),
        ("raw", raw, max(3, spikes // 5), 14),
    ):
        truth = inject(rng, series, count, first)
        ours, anchor = detect_both(series)
        results[label] = (_pr(ours, truth), _pr(anchor, truth))
    return results


def _pr(found: set[tuple[str, date]], truth: set[tuple[str, date]]) -> tuple[float, float]:
    hits = len(found & truth)
    return (hits / len(found) if found else 0.0), hits / len(truth)


def f1(pr: tuple[float, float]) -> float:
    p, r = pr
    return 2 * p * r / (p + r) if p + r else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--series", type=int, default=40)
    parser.add_argument("--spikes", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    all_series = [synthetic_series(rng) for _ in range(args.series)]
    for at_day in (10, 20):
        ours, anchor = [], []
        for series in all_series:
            o, a = forecast_errors(series, at_day)
            ours += o
            anchor += a
        mape_ours, mape_anchor = 100 * statistics.fmean(ours), 100 * statistics.fmean(anchor)
        ratio = mape_anchor / mape_ours
        verdict = "PASS" if ratio >= 1 else "FAIL"
        print(
            f"forecast_mape_day{at_day}: ours={mape_ours:.2f}% anchor={mape_anchor:.2f}% "
            f"ratio={ratio:.2f} goal=>=1 {verdict}"
        )
    if not SAMPLE.exists():
        print(f"# anomaly evaluation skipped: {SAMPLE} is missing")
        return
    scores = anomaly_scores(rng, args.spikes)
    for label, (ours_pr, anchor_pr) in scores.items():
        print(
            f"# anomalies {label}: ours precision={ours_pr[0]:.2f} recall={ours_pr[1]:.2f}; "
            f"anchor (14-day mean + 3 sigma) precision={anchor_pr[0]:.2f} recall={anchor_pr[1]:.2f}"
        )
    ours_pr, anchor_pr = scores["smooth"]
    ratio = f1(ours_pr) / f1(anchor_pr) if f1(anchor_pr) else float("inf")
    verdict = "PASS" if ratio >= 1 else "FAIL"
    print(
        f"anomaly_f1: ours={f1(ours_pr):.2f} anchor={f1(anchor_pr):.2f} ratio={ratio:.2f} "
        f"goal=>=1 {verdict}"
    )


if __name__ == "__main__":
    main()

"""Costs anomalies over a year: the contributors of every spike in one query (ours) against one
query per spike (the anchor: what the app did before, and what a straightforward
implementation does), in the same run, on the same data, with the same answers checked.

Data: the FOCUS 1.0 sample (1,000 rows, September 2024) tiled into twelve months (each month
``--copies`` copies, resource ids and costs varied per copy, as a bigger estate would be),
ingested into a fresh store. Both sides run after the same spike detection
(``find_anomalies``'s first part); the timed part is finding each spike's top three
service/resource pairs against its previous week.

Prints ``costs_anomaly_contributors_s: ours=<s> anchor=<s> ratio=<anchor/ours> goal=1.0
PASS|FAIL`` and the number of spikes.

Run: ``.venv/bin/python benchmarks/costs_anomalies.py [--copies 10]``
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from skybridge.apps.costs.analytics import CostData, Period, dimension_sql
from skybridge.apps.costs.anomalies import WINDOW, Anomaly, contributors, detect_spikes
from skybridge.apps.costs.formats import lit
from skybridge.apps.costs.ingest import CostStore

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "focus" / "focus-1.0" / "focus_sample.csv"
STAMP = "%Y-%m-%d %H:%M:%S"
DIMENSION = "service"
TIMES = ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart", "BillingPeriodEnd")


def tile_year(folder: Path, copies: int) -> list[Path]:
    """Twelve monthly exports (December 2025 to November 2026) made from the sample."""
    rows = list(csv.DictReader(SAMPLE.open(newline="", encoding="utf-8-sig")))
    fields = list(rows[0])
    first = datetime(2024, 9, 1)
    files = []
    for n in range(12):
        year, month = (2025, 12) if n == 0 else (2026, n)
        shift = datetime(year, month, 1) - first
        path = folder / f"focus-{year}-{month:02d}.csv"
        with path.open("w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=fields)
            writer.writeheader()
            for copy in range(copies):
                for row in rows:
                    writer.writerow(_copied(row, n, copy, shift))
        files.append(path)
    return files


def _copied(row: dict[str, str], month: int, copy: int, shift: timedelta) -> dict[str, str]:
    made = dict(row)
    for column in (
        "ChargePeriodStart",
        "ChargePeriodEnd",
        "BillingPeriodStart",
        "BillingPeriodEnd",
    ):
        if row[column] not in ("", "NULL"):
            made[column] = (datetime.strptime(row[column], STAMP) + shift).strftime(STAMP)
    made["Id"] = f"{row['Id']}-{month}-{copy}"
    if row["ResourceId"] not in ("", "NULL"):
        made["ResourceId"] = f"{row['ResourceId']}-{copy}"
    for column in ("BilledCost", "EffectiveCost", "ListCost"):
        if row[column] not in ("", "NULL"):
            made[column] = f"{float(row[column]) * (1 + copy / 10):.10f}"
    return made


def spikes(data: CostData, period: Period) -> list[Anomaly]:
    """The spikes of every service in ``period`` (the detection both sides share)."""
    history = Period(period.start - timedelta(days=WINDOW), period.end)
    found = []
    for value, series in data.daily(history, DIMENSION).items():
        floats = {d: float(v) for d, v in series.items()}
        for spike in detect_spikes(floats, threshold=4.0, min_impact=1.0, since=period.start):
            found.append(Anomaly(DIMENSION, value, spike))
    return found


def per_spike(data: CostData, value: str, day: date, limit: int = 3) -> list[dict[str, Any]]:
    """The anchor: one query over the costs for one spike."""
    expr = f"coalesce(CAST({dimension_sql(DIMENSION)} AS VARCHAR), '(none)')"
    start = (day - timedelta(days=7)).isoformat()
    today = f"DATE {lit(day.isoformat())}"
    on_day = f"coalesce(sum(EffectiveCost) FILTER (x_Day = {today}), 0)"
    usual = f"coalesce(sum(EffectiveCost) FILTER (x_Day < {today}), 0) / 7"
    return data.records(
        f"""SELECT ServiceName AS service, coalesce(ResourceId, '(no resource id)') AS resource,
                   ({on_day})::DOUBLE AS cost, ({usual})::DOUBLE AS usual,
                   ({on_day} - {usual})::DOUBLE AS increase
            FROM costs
            WHERE {expr} = ? AND x_Day BETWEEN DATE {lit(start)} AND DATE {lit(day.isoformat())}
            GROUP BY ALL HAVING increase > 0
            ORDER BY increase DESC, service, resource LIMIT {int(limit)}""",
        [value],
    )


def best_of(runs: int, work: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10, help="copies of the sample per month")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each side (best)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        store = CostStore(folder / "costs")
        for path in tile_year(folder, args.copies):
            store.ingest_file(path)
        period = Period(date(2025, 12, 1), date(2026, 11, 30))
        with store.data() as data:
            found = spikes(data, period)
            pairs = [(a.value, a.spike.day) for a in found]
            ours_s, ours = best_of(args.runs, lambda: contributors(data, DIMENSION, pairs))
            anchor_s, anchor = best_of(
                args.runs, lambda: {(v, d): per_spike(data, v, d) for v, d in pairs}
            )
    same = all(ours.get(pair, []) == anchor[pair] for pair in pairs)
    ratio = anchor_s / ours_s
    print(f"# {len(pairs)} spikes over {12 * args.copies * 1000:,} cost rows; same answers: {same}")
    verdict = "PASS" if ratio >= 1.0 and same else "FAIL"
    print(
        f"costs_anomaly_contributors_s: ours={ours_s:.4f} anchor={anchor_s:.4f} "
        f"ratio={ratio:.2f} goal=1.0 {verdict}"
    )


if __name__ == "__main__":
    main()

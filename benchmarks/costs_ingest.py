"""Cost ingest: 2M FOCUS rows (the FOCUS 1.0 sample tiled) converted and aggregated by day x
cost_center x service, ours (DuckDB: CSV -> canonical Parquet once, then SQL over Parquet) vs
a straightforward pandas implementation (read_csv, json.loads on each Tags value, groupby) in
the same run, on the same CSV. Both outputs are checked equal to the cent.

Prints ``<claim>: ours=<x> anchor=<y> ratio=<r> goal=<g> PASS|FAIL`` (ratio: higher is better):

* ``convert_and_aggregate_2m``: seconds, CSV to daily totals; ratio = pandas / ours, goal >= 5.
* ``aggregate_parquet_rows_per_s``: rows/s of the daily aggregation over our Parquet; the anchor
  is pandas reading the same Parquet and grouping; ratio = ours / anchor; the goal is an
  absolute >= 800,000 rows/s for ours.

The tiled CSV gets a ``cost_center`` tag (CC-101/202/303, 20% untagged) on each row, as the
public sample has almost none; its few ``CostCenter`` keys are renamed so both sides read one key.

Also printed: pandas doing the same and keeping what it read as Parquet (``to_parquet``), as
ours keeps its converted file (not the claim's anchor, which writes nothing); both sides' CPU
seconds (all threads; on a shared machine they say what the work costs when wall times swing
with the load) and the load average.

Run: ``.venv/bin/python benchmarks/costs_ingest.py [--tiles 2000] [--keep DIR]`` (``--keep``
reuses the tiled CSV a run left in DIR).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from skybridge.apps.costs.ingest import CostStore

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "focus" / "focus-1.0" / "focus_sample.csv"
DAILY = """SELECT x_Day AS day, tag_value(x_TagKeys, x_TagValues, 'cost_center') AS cost_center,
                  ServiceName AS service, sum(EffectiveCost) AS cost
           FROM costs GROUP BY ALL"""


def tile(target: Path, tiles: int) -> int:
    """Write the sample ``tiles`` times with cost_center tags; returns the row count."""
    con = duckdb.connect()
    con.execute(
        f"""COPY (
          SELECT s.* REPLACE (
            CASE WHEN r.range % 5 = 4 THEN replace(s.Tags, '"CostCenter"', '"LegacyCostCenter"')
                 WHEN s.Tags IS NULL OR s.Tags = 'NULL'
                   THEN '{{"cost_center": "CC-' || (101 + 101 * (r.range % 3)) || '"}}'
                 ELSE '{{"cost_center": "CC-' || (101 + 101 * (r.range % 3)) || '", '
                      || substr(replace(s.Tags, '"CostCenter"', '"LegacyCostCenter"'), 2)
            END AS Tags)
          FROM read_csv('{SAMPLE}', all_varchar = true) s, range({tiles}) r
        ) TO '{target}' (HEADER, FORCE_QUOTE *)"""
    )
    (rows,) = con.execute(f"SELECT count(*) FROM read_csv('{target}')").fetchone() or (0,)
    return int(rows)


def sample_rows() -> int:
    con = duckdb.connect()
    (rows,) = con.execute(f"SELECT count(*) FROM read_csv('{SAMPLE}')").fetchone() or (0,)
    return int(rows)


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def cpu_seconds() -> float:
    """CPU time of this process so far, all threads (DuckDB's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def cpu_timed(fn: Callable[[], T]) -> tuple[float, float, T]:
    """Wall seconds, CPU seconds and the result of ``fn``: on a shared machine the CPU time
    says what the work costs, the wall time what a user waits."""
    cpu = cpu_seconds()
    wall, result = timed(fn)
    return wall, cpu_seconds() - cpu, result


def ours(csv: Path, folder: Path) -> tuple[dict[tuple[Any, ...], Decimal], float]:
    store = CostStore(folder)
    store.ingest_file(csv)
    return aggregate_ours(store)


def aggregate_ours(store: CostStore) -> tuple[dict[tuple[Any, ...], Decimal], float]:
    with store.data() as data:
        seconds, rows = timed(lambda: data.rows(DAILY))
    return {(str(d), c, s): Decimal(v) for d, c, s, v in rows}, seconds


def cost_center(tags: Any) -> Any:
    if not isinstance(tags, str):
        return None
    return json.loads(tags).get("cost_center")


def pandas_daily(frame: pd.DataFrame) -> dict[tuple[Any, ...], Decimal]:
    frame["cost_center"] = frame["Tags"].map(cost_center)
    frame["day"] = pd.to_datetime(frame["ChargePeriodStart"]).dt.date.astype(str)
    grouped = frame.groupby(["day", "cost_center", "ServiceName"], dropna=False)[
        "EffectiveCost"
    ].sum()
    return {(d, None if pd.isna(c) else c, s): Decimal(str(v)) for (d, c, s), v in grouped.items()}


def anchor(csv: Path) -> dict[tuple[Any, ...], Decimal]:
    frame = pd.read_csv(csv)
    return pandas_daily(frame)


def anchor_keeping_parquet(csv: Path, target: Path) -> dict[tuple[Any, ...], Decimal]:
    """The anchor plus what ours also does: keep the rows it read as a Parquet file. Read with
    ``low_memory=False``, as pandas' mixed-types warning advises: Parquet takes one type per
    column, and chunked reading gives some columns floats in one chunk and strings in another."""
    frame = pd.read_csv(csv, low_memory=False)
    frame.to_parquet(target)
    return pandas_daily(frame)


def anchor_parquet(store: CostStore) -> dict[tuple[Any, ...], Decimal]:
    files = sorted(store.parquet_dir.glob("*.parquet"))
    frame = pd.concat(
        [
            pd.read_parquet(
                f, columns=["ChargePeriodStart", "ServiceName", "EffectiveCost", "Tags"]
            )
            for f in files
        ]
    )
    frame["EffectiveCost"] = frame["EffectiveCost"].astype(float)
    return pandas_daily(frame)


def same(a: dict[tuple[Any, ...], Decimal], b: dict[tuple[Any, ...], Decimal]) -> bool:
    cents = Decimal("0.01")
    return {k: v.quantize(cents) for k, v in a.items()} == {
        k: v.quantize(cents) for k, v in b.items()
    }


def line(claim: str, ours_: float, anchor_: float, ratio: float, goal: str, ok: bool) -> None:
    verdict = "PASS" if ok else "FAIL"
    print(f"{claim}: ours={ours_:.3f} anchor={anchor_:.3f} ratio={ratio:.2f} goal={goal} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=2000, help="copies of the 1,000-row sample")
    parser.add_argument("--keep", type=Path, help="keep the tiled CSV and Parquet here")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="skybridge-bench-costs-"))
    work.mkdir(parents=True, exist_ok=True)
    csv = work / f"focus_tiled_{args.tiles}.csv"
    if not (args.keep and csv.exists()):  # --keep reuses the tiled CSV of an earlier run
        tile(csv, args.tiles)
    rows = args.tiles * sample_rows()
    print(f"# {rows:,} rows, {csv.stat().st_size / 1e9:.2f} GB CSV in {work}")
    print(f"# load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    folder = work / f"store-{time.time_ns()}"
    ours_seconds, ours_cpu, (ours_daily, aggregate_seconds) = cpu_timed(lambda: ours(csv, folder))
    anchor_seconds, anchor_cpu, anchor_daily = cpu_timed(lambda: anchor(csv))
    assert same(ours_daily, anchor_daily), "ours and pandas disagree on the daily totals"
    ratio = anchor_seconds / ours_seconds
    line("convert_and_aggregate_2m", ours_seconds, anchor_seconds, ratio, ">=5", ratio >= 5)
    print(f"# CPU seconds (all threads): ours={ours_cpu:.1f} pandas={anchor_cpu:.1f}")
    with csv.open("rb") as handle:
        hash_seconds, _ = timed(lambda: hashlib.file_digest(handle, "sha256"))
    print(
        f"# of ours: the daily aggregation {aggregate_seconds:.1f} s; the SHA-256 of the file "
        f"(its identity in the ledger), timed again alone, {hash_seconds:.1f} s"
    )
    print(f"# load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    keeping_seconds, keeping_cpu, keeping_daily = cpu_timed(
        lambda: anchor_keeping_parquet(csv, work / f"pandas-{time.time_ns()}.parquet")
    )
    assert same(ours_daily, keeping_daily), "ours and pandas (keeping Parquet) disagree"
    print(
        f"# pandas also keeping its rows as Parquet (to_parquet, as ours keeps the converted "
        f"file): {keeping_seconds:.1f} s, CPU {keeping_cpu:.1f} s; ours is "
        f"{keeping_seconds / ours_seconds:.2f}x faster than that"
    )

    store = CostStore(folder)
    best = min(aggregate_ours(store)[1] for _ in range(3))
    pandas_seconds, pandas_daily_ = timed(lambda: anchor_parquet(store))
    assert same(aggregate_ours(store)[0], pandas_daily_), "ours and pandas disagree over Parquet"
    ours_rate, anchor_rate = rows / best, rows / pandas_seconds
    line(
        "aggregate_parquet_rows_per_s",
        ours_rate,
        anchor_rate,
        ours_rate / anchor_rate,
        ">=800000",
        ours_rate >= 800_000,
    )


if __name__ == "__main__":
    main()

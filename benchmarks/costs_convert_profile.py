"""Where the time of ``costs_ingest.py``'s first claim goes: CPU and wall seconds of each step
of ours (the file's SHA-256, the conversion, and what any DuckDB conversion costs at least:
reading every column as text, and writing it to Parquet unchanged) beside Arrow's multithreaded
CSV reader doing the same two, and pandas reading the same CSV and doing the anchor's whole job.
Every step runs ``--repeat`` times; the lowest CPU time is printed (CPU seconds count all
threads and move less with the machine's load than wall seconds). A profile, not a claim: it
prints no PASS/FAIL line.

Run: ``.venv/bin/python benchmarks/costs_convert_profile.py [--tiles 200] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from costs_ingest import anchor, cpu_timed, tile

from skybridge.apps.costs.convert import connect, convert_file


def duckdb_read(csv: Path) -> None:
    source = f"read_csv('{csv}', header = true, all_varchar = true)"
    duckdb.connect().execute(f"SELECT count(*), sum(length(COLUMNS(*))) FROM {source}").fetchall()


def duckdb_copy(csv: Path, out: Path) -> None:
    source = f"read_csv('{csv}', header = true, all_varchar = true)"
    duckdb.connect().execute(f"COPY (SELECT * FROM {source}) TO '{out}' (FORMAT parquet)")


def arrow_batches(csv: Path) -> Iterator[pa.RecordBatch]:
    """The CSV's rows as Arrow batches of text columns, read in blocks on Arrow's threads."""
    with csv.open() as handle:
        columns = next(iter(handle)).rstrip("\r\n").split(",")
    text = pa_csv.ConvertOptions(column_types=dict.fromkeys(columns, pa.string()))
    with pa_csv.open_csv(csv, convert_options=text) as reader:
        yield from reader


def arrow_read(csv: Path) -> None:
    for _ in arrow_batches(csv):
        pass


def arrow_copy(csv: Path, out: Path) -> None:
    batches = arrow_batches(csv)
    first = next(batches)
    with pq.ParquetWriter(out, first.schema) as writer:
        writer.write_batch(first)
        for batch in batches:
            writer.write_batch(batch)


def ours_convert(csv: Path, out: Path) -> None:
    con = connect()
    try:
        convert_file(con, csv, csv.name, out)
    finally:
        con.close()


def sha256(csv: Path) -> None:
    with csv.open("rb") as handle:
        hashlib.file_digest(handle, "sha256")


def best(label: str, fn: Callable[[], Any], repeat: int) -> None:
    runs = [cpu_timed(fn)[:2] for _ in range(repeat)]
    wall, cpu = min(runs, key=lambda run: run[1])
    print(f"{label:<58} cpu={cpu:6.2f}s wall={wall:6.2f}s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=200, help="copies of the 1,000-row sample")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="reuse / keep the tiled CSV here")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="skybridge-profile-costs-"))
    work.mkdir(parents=True, exist_ok=True)
    csv, out = work / f"focus_tiled_{args.tiles}.csv", work / "profile.parquet"
    if not csv.exists():
        tile(csv, args.tiles)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("ours: SHA-256 of the file", lambda: sha256(csv)),
        ("DuckDB: read every column as text", lambda: duckdb_read(csv)),
        ("DuckDB: CSV -> Parquet as text, no mapping, no checks", lambda: duckdb_copy(csv, out)),
        ("Arrow: read every column as text", lambda: arrow_read(csv)),
        ("Arrow: CSV -> Parquet as text, no mapping, no checks", lambda: arrow_copy(csv, out)),
        ("ours: the conversion (convert_file)", lambda: ours_convert(csv, out)),
        ("pandas: read_csv", lambda: pd.read_csv(csv)),
        ("pandas: the anchor (read_csv, json.loads, groupby)", lambda: anchor(csv)),
    ]
    print(f"# {csv} ({csv.stat().st_size / 1e6:.0f} MB); best of {args.repeat} by CPU time")
    for label, fn in steps:
        best(label, fn, args.repeat)


if __name__ == "__main__":
    main()

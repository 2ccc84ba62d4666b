"""The dlt side of benchmarks/datasync_upsert.py, run with .venv-anchors' interpreter.

``python dlt_merge.py PG_URL ROWS_JSON`` loads each round of ``ROWS_JSON`` (a JSON list of
rounds, each a list of row dicts) into table ``ratings`` of dataset ``dlt_bench`` with dlt's
defaults for a merge (``write_disposition="merge"``, ``primary_key``; dlt's default merge
strategy, delete-insert) and prints one JSON line per round: ``{"round": i, "seconds": s}``,
timed around ``pipeline.run`` (imports and pipeline creation excluded).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")  # no DNS lookups to telemetry

import dlt


def main(url: str, rows_path: str) -> None:
    with open(rows_path) as handle:
        rounds = json.load(handle)
    pipeline = dlt.pipeline(
        pipeline_name=f"bench_{os.getpid()}",
        destination=dlt.destinations.postgres(credentials=url),
        dataset_name="dlt_bench",
        pipelines_dir=tempfile.mkdtemp(prefix="dlt-bench-"),
    )
    for i, rows in enumerate(rounds):
        resource = dlt.resource(
            rows, name="ratings", write_disposition="merge", primary_key=["user_id", "movie_id"]
        )
        started = time.perf_counter()
        pipeline.run(resource)
        print(json.dumps({"round": i, "seconds": time.perf_counter() - started}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

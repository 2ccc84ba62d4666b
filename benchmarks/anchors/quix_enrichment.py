"""The Quix Streams side of ``benchmarks/stream_enrichment.py``, run in ``.venv-anchors``.

Consumes ``--events`` JSON records of ``--topic`` from ``--bootstrap`` with per-user RocksDB
state (changelog topics on, at-least-once) and the librdkafka settings of ``--consumer-config``
(the benchmark passes the ones our consumer uses), computes :func:`enrichment.enrich` and
prints ``{"events_per_s": ..., "events": ..., "seconds": ...}`` as one JSON line. Time runs from the
first record to the return of ``app.run()`` (its final checkpoint flushes state and commits).

Run: .venv-anchors/bin/python benchmarks/anchors/quix_enrichment.py --bootstrap H:P --topic T
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from enrichment import enrich


def run(
    bootstrap: str, topic: str, n: int, state_dir: str, consumer_config: dict[str, Any]
) -> dict[str, float]:
    from quixstreams import Application  # type: ignore[import-untyped]

    app = Application(
        broker_address=bootstrap,
        consumer_group="quix-enrichment",
        auto_offset_reset="earliest",
        state_dir=state_dir,
        processing_guarantee="at-least-once",
        use_changelog_topics=True,
        consumer_extra_config=consumer_config,
    )
    source = app.topic(topic, value_deserializer="json")
    marks = {"count": 0, "first": 0.0}

    def step(value: dict[str, Any], state: Any) -> dict[str, Any]:
        if not marks["count"]:
            marks["first"] = time.perf_counter()
        features = enrich(state.get("features"), value["ts"], value["metric"])
        state.set("features", features)
        marks["count"] += 1
        if marks["count"] >= n:
            app.stop()
        return features

    sdf = app.dataframe(source)
    sdf = sdf.apply(step, stateful=True)
    app.run()
    seconds = time.perf_counter() - marks["first"]
    return {"events_per_s": n / seconds, "events": float(marks["count"]), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--consumer-config", default="{}", help="librdkafka settings, JSON")
    args = parser.parse_args()
    consumer_config = json.loads(args.consumer_config)
    result = run(args.bootstrap, args.topic, args.events, args.state_dir, consumer_config)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

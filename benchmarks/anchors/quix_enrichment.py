"""The Quix Streams side of ``benchmarks/stream_enrichment.py``, run in ``.venv-anchors``.

Consumes ``--events`` JSON records of ``--topic`` from ``--bootstrap`` with Quix's defaults
(at-least-once, RocksDB state, 5 s checkpoints) and per-user state, with changelog topics on
(``--changelog on``, Quix's default: state replicated to the broker) or off (local RocksDB state
only). Both consumers of the benchmark get the librdkafka settings of ``--consumer-config``.
Computes :func:`enrichment.enrich` per record.

The clock runs from the first record to the end of the checkpoint that commits the last one
(state flushed to RocksDB, changelog produced and flushed, offsets committed): the last
record's effect, as on our side. Closing the application is not timed. After the run, every
user's features are read back from the RocksDB partitions Quix wrote and saved as JSON to
``--features-out``.

Prints ``{"events_per_s": ..., "events": ..., "seconds": ...}`` as one JSON line.

Run: .venv-anchors/bin/python benchmarks/anchors/quix_enrichment.py --bootstrap H:P --topic T
--state-dir D --features-out F [--changelog on|off]
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

STATE_KEY = "features"


def timed_checkpoints() -> list[float]:
    """End times of every checkpoint commit (patched into Quix's ``Checkpoint.commit``)."""
    from quixstreams.checkpointing.checkpoint import Checkpoint  # type: ignore[import-untyped]

    ends: list[float] = []
    commit = Checkpoint.commit

    def commit_and_time(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = commit(self, *args, **kwargs)
        ends.append(time.perf_counter())
        return result

    Checkpoint.commit = commit_and_time
    return ends


def run(args: argparse.Namespace, consumer_config: dict[str, Any]) -> dict[str, float]:
    from quixstreams import Application  # type: ignore[import-untyped]

    ends = timed_checkpoints()
    app = Application(
        broker_address=args.bootstrap,
        consumer_group="quix-enrichment",
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        use_changelog_topics=args.changelog == "on",
        consumer_extra_config=consumer_config,
    )
    source = app.topic(args.topic, value_deserializer="json")
    marks = {"count": 0, "first": 0.0, "last": 0.0}
    n = args.events

    def step(value: dict[str, Any], state: Any) -> dict[str, Any]:
        if not marks["count"]:
            marks["first"] = time.perf_counter()
        features = enrich(state.get(STATE_KEY), value["ts"], value["metric"])
        state.set(STATE_KEY, features)
        marks["count"] += 1
        if marks["count"] >= n:
            marks["last"] = time.perf_counter()
            app.stop()
        return features

    app.dataframe(source).apply(step, stateful=True)
    app.run()
    done = next(end for end in ends if end >= marks["last"])  # the checkpoint with the last
    seconds = done - marks["first"]
    return {"events_per_s": n / seconds, "events": float(marks["count"]), "seconds": seconds}


def read_features(state_dir: Path) -> dict[str, Any]:
    """Every user's features as Quix stored them (all RocksDB partitions of the state dir)."""
    from quixstreams.state.rocksdb import RocksDBStorePartition  # type: ignore[import-untyped]
    from rocksdict import Options, Rdict  # type: ignore[import-untyped]

    found: dict[str, Any] = {}
    for path in sorted(state_dir.glob("*/default/*/*")):  # group/store/topic/partition
        if not path.is_dir() or not path.name.isdigit():
            continue
        raw_db = Rdict(str(path), options=Options(raw_mode=True))
        keys = list(raw_db.keys())  # b'<message key>|<json state key>'
        raw_db.close()
        partition = RocksDBStorePartition(str(path))
        tx = partition.begin()
        for raw in keys:
            prefix, _, name = bytes(raw).rpartition(b"|")
            if name == json.dumps(STATE_KEY).encode():
                found[prefix.decode()] = tx.get(STATE_KEY, prefix=prefix)
        partition.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--features-out", required=True)
    parser.add_argument("--changelog", choices=["on", "off"], default="on")
    parser.add_argument("--consumer-config", default="{}", help="librdkafka settings, JSON")
    args = parser.parse_args()
    result = run(args, json.loads(args.consumer_config))
    features = read_features(Path(args.state_dir))
    Path(args.features_out).write_text(json.dumps(features))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()

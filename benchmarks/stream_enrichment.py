"""Stream enrichment: ours (a skybridge Pipeline at its defaults) vs Quix Streams at its defaults.

The seed's enrichment: per user, the last event time, the number of events in the last 5
minutes of event time, and the last metric value (``anchors/enrichment.py``, shared). Every
engine consumes the same keyed events from its own topic on one Tansu broker started here and
keeps the features as per-user state:

* ours: ``Pipeline(...)`` with no tuning (adaptive batches of up to 10,000 records), state in a
  sqlite kv store (WAL, ``synchronous=NORMAL``) flushed atomically with each batch before its
  offsets are committed; no state changelog: the state is as durable as its local file;
* Quix, changelog on (its default): RocksDB state, replicated to a compacted changelog topic
  at every checkpoint (5 s), at-least-once;
* Quix, changelog off: RocksDB state only, the same durability as ours (a local file).

Both sides get the same librdkafka setting (``fetch.queue.backoff.ms``, our default). Clocks
run from the first record received to the moment the last record's effect is stored (ours:
the flush and commit of its batch; Quix: the checkpoint commit holding it); start-up, group
join and close are not timed. Engines run interleaved for ``--rounds`` rounds on fresh topics;
each one's best run counts. Every run's final features, read back from the engine's store, must
equal a reference fold of the events for every user, or the benchmark fails. Also printed:
ours with each user's features written to a kv sink too, ours with the old fixed batches of 500
records, and a bare consumer reading the topic every round (the broker feed ceiling).

Also: the embedded sqlite log's produce + consume rate against a plain SQLite WAL loop doing
the same on the same machine (``_sqlite_log.py``), best of ``--rounds`` interleaved rounds.

Prints ``<claim>: ours=<x> anchor=<y> ratio=<r> goal=<g> PASS|FAIL`` lines, progress on stderr;
exits 1 when a claim fails.

Run: .venv/bin/python benchmarks/stream_enrichment.py [--events N] [--rounds R]
[--only kafka|sqlite]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import _sqlite_log
from _stream_engines import (
    PARTITIONS,
    EngineRun,
    make_events,
    produce,
    reference_features,
    run_ceiling,
    run_ours,
    run_quix,
)

from skybridge.backends import streams as streams_family
from skybridge.testing.kafka import start_kafka

GOAL_RATIO = 2.0
SQLITE_GOAL = 0.5
ENGINES = ("quix-changelog-on", "quix-changelog-off", "ours", "ours+kv-sink", "ours-batch-500")


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def line(claim: str, ours: float, anchor: float, goal: float) -> bool:
    ratio = ours / anchor
    ok = ratio >= goal
    verdict = "PASS" if ok else "FAIL"
    print(f"{claim}: ours={ours:.0f} anchor={anchor:.0f} ratio={ratio:.2f} goal={goal} {verdict}")
    return ok


def run_engine(
    engine: str, server_url: str, backend: Any, topic: str, n: int, work: Path
) -> EngineRun:
    bootstrap = server_url.removeprefix("kafka://")
    if engine.startswith("quix"):
        return run_quix(bootstrap, topic, n, work, changelog=engine.endswith("-on"))
    size = 500 if engine == "ours-batch-500" else None
    return run_ours(backend, topic, n, work, sink=engine == "ours+kv-sink", batch_size=size)


def run_kafka(n: int, rounds: int, work: Path) -> tuple[dict[str, float], dict[str, int], int]:
    """Best events/s per engine, mismatching users per engine, and the bare-consumer rate."""
    events = make_events(n)
    expected = reference_features(events)
    server = start_kafka()
    bootstrap = server.url.removeprefix("kafka://")
    backend = streams_family.connect(server.url, setting=None)
    best: dict[str, float] = {}
    wrong: dict[str, int] = {}
    try:
        for round_ in range(rounds):
            for engine in ENGINES:
                topic = f"enrichment-{engine.replace('+', '-')}-{round_}"
                produce(backend, topic, events)
                progress(f"kafka round {round_ + 1}/{rounds}: {engine} on {n:,} events ...")
                run = run_engine(engine, server.url, backend, topic, n, work)
                bad = sum(1 for u, f in expected.items() if run.features.get(u) != f)
                wrong[engine] = max(wrong.get(engine, 0), bad)
                best[engine] = max(best.get(engine, 0.0), run.rate)
                progress(f"  {engine}: {run.rate:,.0f} events/s; users differing: {bad}")
            progress(f"kafka round {round_ + 1}/{rounds}: bare consumer (broker feed ceiling) ...")
            ceiling = run_ceiling(bootstrap, f"enrichment-ours-{round_}", n)
            best["ceiling"] = max(best.get("ceiling", 0.0), ceiling)
        return best, wrong, round(best.pop("ceiling"))
    finally:
        backend.close()  # before the broker stops: no librdkafka reconnect noise
        server.stop()


def report_kafka(best: dict[str, float], wrong: dict[str, int], ceiling: int, users: int) -> bool:
    ok = True
    for side in ("on", "off"):
        claim = f"kafka enrichment events/s, ours vs Quix, both at defaults (changelog {side})"
        ok &= line(claim, best["ours"], best[f"quix-changelog-{side}"], GOAL_RATIO)
    equal = users - max(wrong.values())
    ok &= line("final features equal to the reference, every user, every engine and run (users)",
               equal, users, 1.0)  # fmt: skip
    sink = best["ours+kv-sink"]
    print(
        f"# ours with each user's features also written to a kv sink (work Quix does not do): "
        f"{sink:.0f} events/s = {sink / best['quix-changelog-on']:.2f}x Quix (changelog on), "
        f"{sink / best['quix-changelog-off']:.2f}x Quix (changelog off)"
    )
    fixed = best["ours-batch-500"]
    print(
        f"# ours with the old fixed batches of 500 records: {fixed:.0f} events/s "
        f"({fixed / best['ours']:.0%} of ours at its defaults)"
    )
    print(
        f"# broker feed ceiling (bare consumer, no processing): {ceiling} events/s; "
        f"ours reaches {best['ours'] / ceiling:.0%} of it"
    )
    return ok


def run_sqlite(n: int, rounds: int, work: Path) -> bool:
    events = make_events(n)
    best = {"ours": 0.0, "plain": 0.0}
    for round_ in range(rounds):
        for side in ("plain", "ours") if round_ % 2 else ("ours", "plain"):
            progress(f"sqlite round {round_ + 1}/{rounds}: {side} on {n:,} events ...")
            path = work / f"log-{side}-{round_}.db"
            run = _sqlite_log.ours if side == "ours" else _sqlite_log.plain_loop
            best[side] = max(best[side], run(events, path, PARTITIONS))
    claim = "sqlite log produce+consume events/s (vs a plain SQLite WAL insert+select loop)"
    return line(claim, best["ours"], best["plain"], SQLITE_GOAL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per engine (best counts)")
    parser.add_argument("--only", choices=["kafka", "sqlite"], default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="skybridge-bench-"))
    ok = True
    if args.only in (None, "kafka"):
        best, wrong, ceiling = run_kafka(args.events, args.rounds, work)
        ok &= report_kafka(best, wrong, ceiling, len(reference_features(make_events(args.events))))
    if args.only in (None, "sqlite"):
        ok &= run_sqlite(args.events, args.rounds, work)
    return 0 if ok else 1


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    raise SystemExit(main())

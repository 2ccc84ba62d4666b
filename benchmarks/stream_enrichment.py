"""Stream enrichment: ours (a skybridge Pipeline) vs Quix Streams on the same Kafka broker.

The seed's enrichment: per user, the last event time, the number of events in the last 5
minutes of event time, and the last metric value. Both engines consume the same 200k keyed
events from a Tansu broker started here, keep the features as per-user state (ours: a sqlite kv
store with version guards, exactly-once; Quix: RocksDB state with changelog topics,
at-least-once) and count records; throughput is measured from the first record to the last one
processed (start-up and group join excluded for both). Engines run interleaved, ``--rounds``
times each on fresh topics, and each one's best run counts (the shared VM's speed drifts by
10-20% from minute to minute). A second line gives ours with each user's features also written
to a kv sink, work the Quix side does not do. Completion is judged by counting records, never
by broker end offsets (Tansu reports wrong ones after multi-record batches).

Also measured: the embedded sqlite log's produce + consume rate (200k records, consumer group
with commits), against a fixed goal of 50k events/s.

The Quix side runs as a subprocess with ``.venv-anchors/bin/python`` (``make bench`` creates
that venv from ``benchmarks/anchors/requirements.txt``; Quix's pins conflict with ours) against
the same broker in the same run, on its own copy of the topic.

Run: .venv/bin/python benchmarks/stream_enrichment.py [--events N] [--rounds R]
[--only ours|quix|sqlite]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.streams import Message, StreamBackend
from skybridge.backends.streams.kafka.config import CONSUMER_QUEUE_BACKOFF_MS
from skybridge.runtime.outputs import Event, Put
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.runner import PipelineRunner, gc_paused
from skybridge.runtime.sinks import KVSink
from skybridge.runtime.state import GuardedStore
from skybridge.testing.kafka import start_kafka

sys.path.insert(0, str(Path(__file__).parent / "anchors"))
from enrichment import enrich

USERS = 2000
PARTITIONS = 2
GOAL_RATIO = 2.0
#: librdkafka settings every Kafka consumer here gets, ours, Quix's and the bare one alike: the
#: fetch-queue backoff our consumer defaults to (Quix's own default is 100 ms, librdkafka's
#: 1000 ms, which stalls any consumer that drains its queue faster than that).
CONSUMER_CONFIG = {"fetch.queue.backoff.ms": CONSUMER_QUEUE_BACKOFF_MS}
SQLITE_GOAL = 50_000.0


def make_events(n: int) -> list[Message]:
    rng = random.Random(7)
    start = 1_700_000_000.0
    messages = []
    for i in range(n):
        user = f"u{rng.randrange(USERS)}"
        ts = start + i * 0.05 + rng.uniform(-2, 2)  # ~20 events/s of event time, some disorder
        value = {"user": user, "ts": ts, "metric": round(rng.gauss(50, 10), 3)}
        messages.append(Message(json.dumps(value).encode(), user.encode(), timestamp=ts))
    return messages


def produce(backend: StreamBackend, topic: str, messages: list[Message]) -> float:
    started = time.perf_counter()
    for i in range(0, len(messages), 10_000):
        backend.produce(topic, messages[i : i + 10_000])
    return time.perf_counter() - started


# -- ours ---------------------------------------------------------------------------------------


def run_ours(url: str, topic: str, n: int, workdir: Path, *, sink: bool) -> float:
    """Our pipeline on ``topic``; ``sink``: also write each user's features to a kv sink."""
    kv = kv_family.connect(f"sqlite:///{workdir}/features-{topic}.db", setting=None)

    def handler(state: Any, event: Event) -> tuple[Any, list[Any]]:
        v = event.value
        features = enrich(state, v["ts"], v["metric"])
        return features, [Put(f"features/{event.key}", features)] if sink else []

    pipeline = Pipeline(
        "enrichment",
        source=url,
        topics=[topic],
        stateful=handler,
        state=kv,
        sinks={"kv": KVSink(kv)},
        batch_size=20_000,
        poll_timeout=0.5,
    )
    runner = PipelineRunner(pipeline)
    done = 0
    first = 0.0
    with runner.consumer() as consumer:
        while done < n:
            with gc_paused():  # as PipelineRunner.step does
                batch = consumer.poll(pipeline.batch_size, pipeline.poll_timeout)
                if batch and not first:
                    first = time.perf_counter()  # group joined: the clock starts
                if batch:
                    runner.process(consumer, batch)
            done += len(batch)
    elapsed = time.perf_counter() - first
    check = (
        KVSink(kv).get("features/u1") if sink else GuardedStore(kv, "state/enrichment/").get("u1")
    )
    assert check is not None
    assert check["count_5m"] >= 1
    return n / elapsed


# -- Quix Streams (in its own venv: its pins conflict with ours) ---------------------------------

ANCHORS = Path(__file__).parent / "anchors"
ANCHOR_PYTHON = Path(__file__).parent.parent / ".venv-anchors" / "bin" / "python"


def run_quix(bootstrap: str, topic: str, n: int, workdir: Path) -> float:
    """Run ``anchors/quix_enrichment.py`` with the anchors' interpreter; its events/s."""
    if not ANCHOR_PYTHON.exists():
        raise SystemExit(
            f"{ANCHOR_PYTHON} is missing: run `make bench` (it creates .venv-anchors from "
            "benchmarks/anchors/requirements.txt)"
        )
    command = [
        str(ANCHOR_PYTHON),
        str(ANCHORS / "quix_enrichment.py"),
        f"--bootstrap={bootstrap}",
        f"--topic={topic}",
        f"--events={n}",
        f"--state-dir={workdir / 'quix-state'}",
        f"--consumer-config={json.dumps(CONSUMER_CONFIG)}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the Quix anchor failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return float(json.loads(lines[-1])["events_per_s"])


def run_ceiling(bootstrap: str, topic: str, n: int) -> float:
    """A bare confluent-kafka consumer reading ``topic`` with no processing: the broker feed
    ceiling any Python engine on this machine works under."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ceiling-{time.time_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **CONSUMER_CONFIG,
        }
    )
    consumer.subscribe([topic])
    got = 0
    started = 0.0
    try:
        while got < n:
            batch = consumer.consume(10_000, 1.0)
            if batch and not started:
                started = time.perf_counter()
            got += sum(1 for m in batch if m.error() is None)
        return n / (time.perf_counter() - started)
    finally:
        consumer.close()


# -- embedded sqlite log ---------------------------------------------------------------------------


def run_sqlite(n: int, workdir: Path) -> float:
    backend = streams_family.connect(f"sqlite:///{workdir}/log.db", setting=None)
    backend.create_topic("events", PARTITIONS)
    messages = make_events(n)
    produce_s = produce(backend, "events", messages)
    started = time.perf_counter()
    got = 0
    with backend.consumer("bench", ["events"]) as consumer:
        while got < n:
            batch = consumer.poll(5000, 0.5)
            got += len(batch)
            consumer.commit_records(batch)
    consume_s = time.perf_counter() - started
    return n / (produce_s + consume_s)


def line(claim: str, ours: float, anchor: float, goal: float) -> str:
    ratio = ours / anchor
    verdict = "PASS" if ratio >= goal else "FAIL"
    return f"{claim}: ours={ours:.0f} anchor={anchor:.0f} ratio={ratio:.2f} goal={goal} {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2, help="runs per engine (best counts)")
    parser.add_argument("--only", choices=["ours", "quix", "sqlite"], default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="skybridge-bench-"))
    n = args.events
    wanted = {args.only} if args.only else {"ours", "quix", "sqlite"}

    rates: dict[str, float] = {}
    if "sqlite" in wanted:
        rates["sqlite"] = run_sqlite(n, workdir)
    if wanted & {"ours", "quix"}:
        rates.update(run_kafka(n, wanted, args.rounds, workdir))
    if "ours" in rates and "quix" in rates:
        claim = "kafka enrichment events/s (vs Quix Streams)"
        print(line(claim, rates["ours"], rates["quix"], GOAL_RATIO))
        print(
            f"# with each user's features also written to a kv sink (work Quix does not do): "
            f"{rates['ours+sink']:.0f} events/s = {rates['ours+sink'] / rates['quix']:.2f}x Quix"
        )
        print(
            f"# broker feed ceiling (bare consumer, no processing): {rates['ceiling']:.0f} "
            f"events/s = {rates['ceiling'] / rates['quix']:.2f}x Quix; "
            f"ours reaches {rates['ours'] / rates['ceiling']:.0%} of it"
        )
    elif rates.keys() & {"ours", "quix"}:
        print({k: round(v) for k, v in rates.items() if k not in ("sqlite", "ceiling")})
    if "sqlite" in rates:
        claim = "sqlite log produce+consume events/s (vs 50k/s goal)"
        print(line(claim, rates["sqlite"], SQLITE_GOAL, 1.0))


def run_kafka(n: int, wanted: set[str], rounds: int, workdir: Path) -> dict[str, float]:
    """Best events/s of each engine over ``rounds`` interleaved runs, on one Tansu broker.

    Every run reads its own topic holding the same events (a fresh consumer group each).
    """
    engines = [e for e in ("quix", "ours", "ours+sink") if e.split("+")[0] in wanted]
    server = start_kafka()
    try:
        backend = streams_family.connect(server.url, setting=None)
        bootstrap = server.url.removeprefix("kafka://")
        events = make_events(n)
        best: dict[str, float] = {}
        for round_ in range(rounds):
            for engine in engines:
                topic = f"enrichment-{engine.replace('+', '-')}-{round_}"
                backend.create_topic(topic, PARTITIONS)
                produce(backend, topic, events)
                if engine == "quix":
                    rate = run_quix(bootstrap, topic, n, workdir / topic)
                else:
                    rate = run_ours(server.url, topic, n, workdir, sink=engine == "ours+sink")
                best[engine] = max(best.get(engine, 0.0), rate)
        if "ours" in wanted:
            best["ceiling"] = run_ceiling(bootstrap, "enrichment-ours-0", n)
        return best
    finally:
        server.stop()


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()

"""The engines of ``stream_enrichment.py``: the events, ours, Quix Streams, a bare consumer.

Each engine run reads its own topic holding the same events and returns an :class:`EngineRun`:
its rate, timed from the first record it received to the moment the last record's effect is
stored (ours: the flush and offset commit of the batch holding it; Quix: the checkpoint
commit holding it), and every user's final features as the engine stored them.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skybridge.backends import kv as kv_family
from skybridge.backends.streams import Consumer, Message, StreamBackend
from skybridge.backends.streams.kafka.config import CONSUMER_QUEUE_BACKOFF_MS
from skybridge.backends.streams.records import Record
from skybridge.runtime.outputs import Event, Put
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.runner import PipelineRunner, gather, gc_paused
from skybridge.runtime.sinks import KVSink
from skybridge.runtime.state import GuardedStore

sys.path.insert(0, str(Path(__file__).parent / "anchors"))
from enrichment import enrich

USERS = 2000
PARTITIONS = 2
#: librdkafka settings every Kafka consumer here gets, ours, Quix's and the bare one alike: the
#: fetch-queue backoff our consumer defaults to (Quix's own default is 100 ms, librdkafka's
#: 1000 ms, which stalls any consumer that drains its queue faster than that).
CONSUMER_CONFIG = {"fetch.queue.backoff.ms": CONSUMER_QUEUE_BACKOFF_MS}
ANCHORS = Path(__file__).parent / "anchors"
ANCHOR_PYTHON = Path(__file__).parent.parent / ".venv-anchors" / "bin" / "python"


@dataclass
class EngineRun:
    """One run of one engine: events/s and every user's final features."""

    rate: float
    features: dict[str, Any] = field(repr=False)


def make_events(n: int) -> list[Message]:
    """``n`` keyed events over ``USERS`` users, ~20 events/s of event time, some disorder."""
    rng = random.Random(7)
    start = 1_700_000_000.0
    messages = []
    for i in range(n):
        user = f"u{rng.randrange(USERS)}"
        ts = start + i * 0.05 + rng.uniform(-2, 2)
        value = {"user": user, "ts": ts, "metric": round(rng.gauss(50, 10), 3)}
        messages.append(Message(json.dumps(value).encode(), user.encode(), timestamp=ts))
    return messages


def reference_features(messages: Sequence[Message]) -> dict[str, Any]:
    """Every user's features folded in production order (what each engine must store: a
    user's events stay in order on one partition)."""
    features: dict[str, Any] = {}
    for message in messages:
        value = json.loads(message.value)
        user = value["user"]
        features[user] = enrich(features.get(user), value["ts"], value["metric"])
    return features


def produce(backend: StreamBackend, topic: str, messages: list[Message]) -> None:
    backend.create_topic(topic, PARTITIONS)
    for i in range(0, len(messages), 10_000):
        backend.produce(topic, messages[i : i + 10_000])


class _FirstRecordClock(Consumer):
    """A consumer that notes when its first record arrived (where our clock starts)."""

    def __init__(self, inner: Consumer) -> None:
        self.inner, self.first = inner, 0.0
        self.group, self.topics = inner.group, inner.topics

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        records = self.inner.poll(max_records, timeout)
        if records and not self.first:
            self.first = time.perf_counter()
        return records

    def commit(self, offsets: Any = None) -> None:
        self.inner.commit(offsets)

    def seek(self, partition: Any, offset: int) -> None:
        self.inner.seek(partition, offset)

    def position(self, partition: Any) -> int | None:
        return self.inner.position(partition)

    def assignment(self) -> Any:
        return self.inner.assignment()

    def close(self) -> None:
        self.inner.close()


def run_ours(
    backend: StreamBackend,
    topic: str,
    n: int,
    workdir: Path,
    *,
    sink: bool,
    batch_size: int | None = None,
) -> EngineRun:
    """Our pipeline at its defaults on ``topic``; ``sink``: also write each user's features
    to a kv sink (work the Quix side does not do); ``batch_size``: instead of the default."""
    kv = kv_family.connect(f"sqlite:///{workdir}/features-{topic}.db", setting=None)

    def handler(state: Any, event: Event) -> tuple[Any, list[Any]]:
        v = event.value
        features = enrich(state, v["ts"], v["metric"])
        return features, [Put(f"features/{event.key}", features)] if sink else []

    sizing = {"batch_size": batch_size} if batch_size else {}
    pipeline = Pipeline(
        "enrichment", source=backend, topics=[topic], stateful=handler, state=kv,
        sinks={"kv": KVSink(kv)}, **sizing,
    )  # fmt: skip
    runner = PipelineRunner(pipeline)
    done = 0
    with _FirstRecordClock(runner.consumer()) as consumer:
        while done < n:
            with gc_paused():  # as PipelineRunner.step does
                batch = gather(consumer, pipeline)
                if batch:
                    runner.process(consumer, batch)
            done += len(batch)
        elapsed = time.perf_counter() - consumer.first
    state = GuardedStore(kv, "state/enrichment/")
    features = {f"u{i}": state.get(f"u{i}") for i in range(USERS)}
    kv.close()
    return EngineRun(n / elapsed, {k: v for k, v in features.items() if v is not None})


def run_quix(bootstrap: str, topic: str, n: int, workdir: Path, *, changelog: bool) -> EngineRun:
    """``anchors/quix_enrichment.py`` with the anchors' interpreter (Quix's pins conflict
    with ours), Quix's defaults, changelog topics on or off."""
    if not ANCHOR_PYTHON.exists():
        raise SystemExit(
            f"{ANCHOR_PYTHON} is missing: run `make bench` (it creates .venv-anchors from "
            "benchmarks/anchors/requirements.txt)"
        )
    out = workdir / f"quix-features-{topic}.json"
    command = [
        str(ANCHOR_PYTHON),
        str(ANCHORS / "quix_enrichment.py"),
        f"--bootstrap={bootstrap}",
        f"--topic={topic}",
        f"--events={n}",
        f"--state-dir={workdir / ('quix-state-' + topic)}",
        f"--features-out={out}",
        f"--changelog={'on' if changelog else 'off'}",
        f"--consumer-config={json.dumps(CONSUMER_CONFIG)}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the Quix anchor failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return EngineRun(float(json.loads(lines[-1])["events_per_s"]), json.loads(out.read_text()))


def run_ceiling(bootstrap: str, topic: str, n: int) -> float:
    """A bare confluent-kafka consumer reading ``topic`` with no processing: the broker feed
    ceiling any Python engine on this machine works under."""
    from confluent_kafka import Consumer as RdConsumer

    consumer = RdConsumer(
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

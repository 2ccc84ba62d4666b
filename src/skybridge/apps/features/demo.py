"""Demo data for ``skybridge up --demo``: user events on both example topics, the pipeline run
over them, a model trained on the offline log, and live events while the demo runs.

Forty users browse (``view``), add to cart and buy; about a third of them are buyers who do so
far more often. The model learns "is a buyer" from point-in-time features, so
``/api/features/predict`` gives buyers high scores as their live features come in.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from skybridge.apps.features.modeling import train
from skybridge.apps.features.operations import model_path
from skybridge.apps.features.store import Context, open_store
from skybridge.apps.features.worker import build_pipeline
from skybridge.backends.streams import Message, StreamBackend
from skybridge.core.clock import iso
from skybridge.core.observability import get_logger

log = get_logger(__name__)
USERS = [f"user-{i:02d}" for i in range(1, 41)]
SEEDED = "features/demo/seeded"
HISTORY = 2 * 3600.0
SEED = 14


def is_buyer(user: str) -> bool:
    return int(user.rsplit("-", 1)[1]) % 3 == 0


def user_event(rng: random.Random, user: str, at: float) -> dict[str, Any]:
    """One UserEventsStream event; buyers add to cart and buy far more often."""
    weights = (0.45, 0.3, 0.25) if is_buyer(user) else (0.9, 0.08, 0.02)
    kind = rng.choices(("view", "cart", "purchase"), weights)[0]
    amount = round(rng.uniform(5, 200), 2) if kind == "purchase" else 0.0
    return {"userId": user, "eventType": kind, "amount": amount, "timestamp": iso(at)}


def metric_event(rng: random.Random, user: str, at: float) -> dict[str, Any]:
    """One RealtimeEvents event (the enrichment example)."""
    return {"userId": user, "metric": round(rng.gauss(50, 15), 2), "timestamp": iso(at)}


def history(now: float) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(topic, key, event) for two hours of past activity, some of it out of order."""
    rng = random.Random(SEED)
    for user in USERS:
        for _ in range(rng.randint(15, 40)):
            at = now - rng.uniform(0, HISTORY)
            yield "UserEventsStream", user, user_event(rng, user, at)
        for _ in range(rng.randint(3, 10)):
            yield "RealtimeEvents", user, metric_event(rng, user, now - rng.uniform(0, 900))


def publish(streams: StreamBackend, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    by_topic: dict[str, list[Message]] = {}
    for topic, key, event in events:
        by_topic.setdefault(topic, []).append(Message(json.dumps(event).encode(), key.encode()))
    for topic, messages in by_topic.items():
        streams.create_topic(topic, 1)
        streams.produce(topic, messages)


def training_rows(now: float) -> list[dict[str, Any]]:
    """Entity rows with as-of times over the history and the buyer label."""
    rng = random.Random(SEED + 1)
    rows = []
    for user in USERS:
        for _ in range(6):
            at = now - rng.uniform(0, HISTORY - 600)
            rows.append({"userId": user, "as_of": at, "buyer": int(is_buyer(user))})
    return rows


def seed_demo(ctx: Context) -> None:
    """Publish the history once, fold it in, and train the model if there is none yet."""
    now = time.time()
    with open_store(ctx, model=False, streams=True) as store:
        assert store.streams is not None
        kv = store.online.kv
        if kv.get(SEEDED) is None:
            publish(store.streams, list(history(now)))  # arrival order is not event-time order
            kv.put(SEEDED, str(now).encode())
        seeded_at = float(kv.get(SEEDED) or now)
    pipeline = build_pipeline(ctx)
    try:
        pipeline.run(idle_exit=0.5)
    finally:
        pipeline.close()
    path = model_path(ctx)
    if not Path(path).exists():
        with open_store(ctx, model=False, streams=False) as store:
            view = store.model_view()
            data = store.training_set(view.name, training_rows(seeded_at), as_of="as_of")
            trained = train(data, store.model_columns_for_training(), "buyer", path)
        log.info("features.demo_model_trained", **trained.to_dict())


def produce_events(ctx: Context, stop: threading.Event) -> None:
    """Live events for a few users every ``demo_every`` seconds, until ``stop``."""
    rng = random.Random()
    with open_store(ctx, model=False, streams=True) as store:
        assert store.streams is not None
        while not stop.wait(ctx.config.demo_every):
            now = time.time()
            users = rng.sample(USERS, 4)
            events = [
                ("UserEventsStream", u, user_event(rng, u, now - rng.uniform(0, 3))) for u in users
            ]
            events += [("RealtimeEvents", u, metric_event(rng, u, now)) for u in users[:2]]
            publish(store.streams, events)

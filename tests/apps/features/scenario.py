"""The end-to-end example both shipped pipelines run on every URL combination: events out of
order -> the feature pipeline -> online reads and a point-in-time training set, each checked
against a brute-force computation over the same events."""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

from skybridge.apps.features.store import open_store
from skybridge.apps.features.worker import build_pipeline
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.backends.streams import Message
from skybridge.core.clock import iso


def features_context() -> AppContext[Any]:
    app = find_app(discover_apps(), "features")
    return AppContext.create(app, load_settings([app]))


def make_events(
    users: list[str], base: float, rng: random.Random
) -> dict[str, list[dict[str, Any]]]:
    user_events, metrics = [], []
    for user in users:
        for _ in range(rng.randint(5, 25)):
            kind = rng.choice(["view", "view", "cart", "purchase"])
            at = base + rng.randint(0, 3000)
            amount = rng.randint(1, 90) if kind == "purchase" else 0
            user_events.append(
                {"userId": user, "eventType": kind, "amount": amount, "timestamp": iso(at)}
            )
        for _ in range(rng.randint(2, 8)):
            at = base + rng.randint(2400, 3000)
            metrics.append({"userId": user, "metric": rng.randint(0, 100), "timestamp": at})
    rng.shuffle(user_events)  # arrival order is not event-time order
    rng.shuffle(metrics)
    return {"UserEventsStream": user_events, "RealtimeEvents": metrics}


def _time(event: dict[str, Any]) -> float:
    stamp = event["timestamp"]
    if isinstance(stamp, str):
        from datetime import datetime

        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return float(stamp)


def expected_user(events: list[dict[str, Any]], user: str, at: float) -> dict[str, Any]:
    """RealTimeFeatures by brute force (1 s buckets for 5 min, 15 s for 1 h)."""
    mine = [e for e in events if e["userId"] == user and _time(e) <= at]
    if not mine:
        return {}
    last = max(mine, key=_time)

    def within(seconds: float, resolution: float) -> list[dict[str, Any]]:
        start = (at // resolution + 1) * resolution - seconds
        return [e for e in mine if start <= _time(e) <= at]

    hour = within(3600, 15)
    purchases = sum(1 for e in hour if e["eventType"] == "purchase")
    return {
        "count5min": len(within(300, 1)),
        "events1h": len(hour),
        "purchases1h": purchases,
        "purchaseRate1h": purchases / len(hour) if hour else None,
        "lastEventType": last["eventType"],
        "lastUpdate": _time(last),
    }


def expected_metrics(events: list[dict[str, Any]], user: str, at: float) -> dict[str, Any]:
    mine = [e for e in events if e["userId"] == user and _time(e) <= at]
    recent = [e["metric"] for e in mine if (at // 1 + 1) - 300 <= _time(e) <= at]
    return {"count5min": len(recent), "lastMetric": max(mine, key=_time)["metric"]}


def publish(streams: Any, events: dict[str, list[dict[str, Any]]]) -> None:
    for topic, items in events.items():
        streams.create_topic(topic, 2)
        messages = [Message(json.dumps(e).encode(), e["userId"].encode()) for e in items]
        for start in range(0, len(messages), 200):
            streams.produce(topic, messages[start : start + 200])


def run_example(idle_exit: float = 3.0) -> None:
    """Publish, run the pipeline until idle, then check online reads and a training set."""
    rng = random.Random(7)
    run = uuid.uuid4().hex[:8]
    users = [f"{run}-u{i}" for i in range(6)]
    base = time.time() - 3100
    events = make_events(users, base, rng)
    ctx = features_context()
    with open_store(ctx, model=False) as store:
        assert store.streams is not None
        publish(store.streams, events)
    pipeline = build_pipeline(ctx, poll_timeout=0.3)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            pipeline.run(idle_exit=idle_exit)
            with open_store(ctx, model=False, streams=False) as store:
                if _all_seen(store, users, events):
                    break
    finally:
        pipeline.close()
    with open_store(ctx, model=False, streams=False) as store:
        _check_online(store, users, events)
        _check_training_set(store, users, events, base)


def _all_seen(store: Any, users: list[str], events: dict[str, list[dict[str, Any]]]) -> bool:
    vectors = store.online.read("realtime_features", users)
    return all(v.found for v in vectors) and _log_complete(store, events)


def _log_complete(store: Any, events: dict[str, list[dict[str, Any]]]) -> bool:
    from skybridge.apps.features.offline import read_log

    logged = read_log(store.objects, "realtime_features", store.config.offline_prefix)
    ours = {e["userId"] for e in events["UserEventsStream"]}
    return sum(1 for r in logged if r.entity in ours) == len(events["UserEventsStream"])


def _check_online(store: Any, users: list[str], events: dict[str, list[dict[str, Any]]]) -> None:
    at = max(_time(e) for e in events["UserEventsStream"]) + 5
    for vector in store.get("realtime_features", users, at=at):
        want = expected_user(events["UserEventsStream"], vector.entity, at)
        got = vector.plain()
        for name, value in want.items():
            assert got[name] == value, (vector.entity, name, got[name], value)
    at = max(_time(e) for e in events["RealtimeEvents"]) + 5
    for vector in store.get("user_feature_store", users, at=at):
        want = expected_metrics(events["RealtimeEvents"], vector.entity, at)
        assert {k: vector.plain()[k] for k in want} == want


def _check_training_set(
    store: Any, users: list[str], events: dict[str, list[dict[str, Any]]], base: float
) -> None:
    rows = [
        {"userId": u, "as_of": iso(base + t), "label": i % 2}
        for i, u in enumerate(users)
        for t in (600, 1800, 2999)
    ]
    result = store.training_set("realtime_features", rows, as_of="as_of")
    assert len(result.rows) == len(rows)
    for row in result.rows:
        at = _time({"timestamp": row["as_of"]})
        want = expected_user(events["UserEventsStream"], row["userId"], at)
        for name, value in want.items():
            assert row[name] == value, (row["userId"], row["as_of"], name, row[name], value)
        if not want:
            assert row["events1h"] is None

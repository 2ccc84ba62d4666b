"""The demo of ``skybridge up --demo`` (``make run``): a bundled catalogue of 60 sports items,
synthetic events from 120 users in two segments, a trained model and some feedback.

Users favour one or two categories (their segment leans to some), so the model has structure
to find. Idempotent: a marker key records that the demo was seeded, and a second run changes
nothing. Event times are recent, so the first retraining window holds them.
"""

from __future__ import annotations

import random
import time
from importlib.resources import files

from skybridge.apps.recommend.catalogue import Item, parse_items
from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.pipeline import drain_events
from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Context, Recommender, open_recommender
from skybridge.apps.recommend.training import retrain

USERS = 120
SEGMENT_TASTE = {"eu": ["cycling", "camping", "swimming"], "us": ["running", "yoga", "swimming"]}
KINDS = ["view"] * 7 + ["click"] * 2 + ["purchase"]


def demo_items() -> list[Item]:
    text = (files("skybridge.apps.recommend") / "demo_data" / "catalogue.csv").read_text()
    return parse_items(text, jsonl=False)


def demo_events(items: list[Item], now: float, seed: int = 7) -> list[UserEvent]:
    """Synthetic events of the last three days, in time order."""
    rng = random.Random(seed)
    by_category: dict[str, list[Item]] = {}
    for item in items:
        by_category.setdefault(item.category, []).append(item)
    events = []
    for n in range(1, USERS + 1):
        segment = "eu" if n % 2 else "us"
        liked = rng.sample(SEGMENT_TASTE[segment], k=rng.choice([1, 2]))
        favourites = [i for c in liked for i in rng.sample(by_category[c], k=6)]
        for _ in range(rng.randint(8, 20)):
            pick = rng.choice(favourites) if rng.random() < 0.85 else rng.choice(items)
            ts = now - rng.uniform(3_600, 3 * 86_400)
            events.append(UserEvent(f"U{n:02d}", rng.choice(KINDS), ts, pick.id, segment))
    return sorted(events, key=lambda e: e.ts)


def _feedback(engine: Recommender, now: float) -> list[UserEvent]:
    """Serve ten users and have them click the first item and ignore the second."""
    events = []
    for n in range(1, 11):
        served = recommend(engine, f"U{n:02d}", k=5).ids()
        if len(served) >= 2:
            events.append(UserEvent(f"U{n:02d}", "rec_click", now, served[0]))
            events.append(UserEvent(f"U{n:02d}", "rec_ignore", now, served[1]))
    return events


def seed(ctx: Context) -> None:
    """Load the catalogue, stream the events, train, serve and record some feedback."""
    marker = f"recommend/{ctx.config.collection}/demo_seeded"
    with open_recommender(ctx) as engine:
        if engine.kv.get(marker) is not None:
            return
        now = time.time()
        items = demo_items()
        engine.catalogue.put(items)
        engine.publish(demo_events(items, now))
    drain_events(ctx)
    with open_recommender(ctx) as engine:
        retrain(engine, now=now)
        engine.publish(_feedback(engine, now))
    drain_events(ctx)
    with open_recommender(ctx) as engine:
        engine.kv.put_json(marker, {"at": now})

"""Fixtures for the recommend app: small factors, a tiny catalogue in three categories and two
groups of users with clear tastes, streamed through the real pipeline and trained."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.pipeline import drain_events
from skybridge.apps.recommend.service import Recommender, open_recommender
from skybridge.apps.recommend.training import retrain

CATEGORIES = ("alpha", "beta", "gamma")
#: a6 is out of stock.
CATALOGUE = [
    Item(f"{c[0]}{n}", f"{c.title()} {n}", c, available=(c, n) != ("alpha", 6))
    for c in CATEGORIES
    for n in range(1, 7)
]


@pytest.fixture
def workdir(skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__FACTORS", "4")
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__ITERATIONS", "8")
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__REGULARIZATION", "0.1")
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__MIN_INTERACTIONS", "5")
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    return skybridge_workdir


def recommend_context() -> AppContext[Any]:
    spec = find_app(discover_apps(), "recommend")
    return AppContext.create(spec, load_settings([spec]))


def taste_events(now: float | None = None, seed: int = 3) -> list[UserEvent]:
    """Users A01-A08 use alpha items (segment eu), B01-B08 beta items (segment us); each also
    viewed one gamma item."""
    rng = random.Random(seed)
    now = now or time.time()
    events = []
    for group, category, segment in (("A", "a", "eu"), ("B", "b", "us")):
        for n in range(1, 9):
            for item in rng.sample(range(1, 7), k=4):
                kind = rng.choice(["view", "view", "click", "purchase"])
                ts = now - rng.uniform(60, 86_400)
                events.append(UserEvent(f"{group}{n:02d}", kind, ts, f"{category}{item}", segment))
            other = f"g{rng.randint(1, 6)}"
            events.append(UserEvent(f"{group}{n:02d}", "view", now - 90_000, other, segment))
    return sorted(events, key=lambda e: e.ts)


def drain(ctx: AppContext[Any]) -> int:
    """Run the event pipeline until it has committed every event; how many it applied."""
    return drain_events(ctx)


@pytest.fixture
def engine(workdir: Path) -> Iterator[Recommender]:
    with open_recommender(recommend_context()) as found:
        yield found


@pytest.fixture
def trained(engine: Recommender) -> Recommender:
    """The catalogue loaded, the taste events streamed through the pipeline, v0001 served."""
    engine.catalogue.put(CATALOGUE)
    engine.publish(taste_events())
    drain(engine.ctx)
    report = retrain(engine)
    assert report.trained, report.reason
    return engine

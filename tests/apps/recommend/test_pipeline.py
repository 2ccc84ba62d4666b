"""The event pipeline: per-event fold-in, dead letters for bad events, decay mode."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.apps.recommend.conftest import CATALOGUE, drain, recommend_context, taste_events

from skybridge.apps.recommend.events import TS_MAX, UserEvent
from skybridge.apps.recommend.impressions import ImpressionLog
from skybridge.apps.recommend.pipeline import build_pipeline
from skybridge.apps.recommend.profiles import apply_event, user_vector
from skybridge.apps.recommend.service import Recommender, open_recommender
from skybridge.apps.recommend.training import retrain
from skybridge.backends.streams import Message


def test_each_event_folds_the_user_in_against_the_served_model(trained: Recommender) -> None:
    model = trained.require_model()
    trained.publish([e for e in taste_events(seed=9) if e.user == "A05"][:2])
    drain(trained.ctx)
    profile = trained.profiles.get("A05")
    assert profile is not None
    assert profile["version"] == "v0001"
    expected = user_vector(profile, model[1], trained.config)
    assert expected is not None
    np.testing.assert_allclose(profile["vector"], expected, atol=1e-5)


def test_bad_events_are_dead_lettered_with_the_reason(trained: Recommender) -> None:
    topic = trained.config.topic
    trained.streams.produce(
        topic,
        [
            Message(b'{"user": "A01", "item": "a1", "kind": "like"}', b"A01"),
            Message(b"A02,a2,view,2025-10-19T10:15:00Z", None),
        ],
    )
    drain(trained.ctx)
    letters = trained.streams.end_offsets(f"{topic}.dlq")
    assert sum(letters.values()) == 1
    profile = trained.profiles.get("A02")
    assert profile is not None
    assert profile["recent"][-1][1:] == ["view", "a2"]


def test_poison_times_and_keys_are_dead_lettered_and_later_events_applied(
    trained: Recommender,
) -> None:
    topic = trained.config.topic
    trained.streams.produce(
        topic,
        [
            Message(b'{"user": "A01", "item": "a1", "kind": "view", "ts": 1e308}', b"A01"),
            Message(b'{"user": "A01", "item": "a1", "kind": "view", "ts": NaN}', b"A01"),
            Message(b'{"user": "A01", "item": "a1", "kind": "view"}', b"A\x0001"),
            Message(b'{"user": "A03", "item": "a2", "kind": "view", "ts": 1760868900}', b"A03"),
        ],
    )
    pipeline = build_pipeline(trained.ctx)
    try:
        stats = pipeline.run(idle_exit=0.5)  # bounded: a stuck batch would raise, not hang
    finally:
        pipeline.close()  # type: ignore[attr-defined]
    assert stats.dead_letters == 3
    assert sum(trained.streams.end_offsets(f"{topic}.dlq").values()) == 3
    trained.profiles.store.invalidate()
    a03 = trained.profiles.get("A03")
    assert a03 is not None
    assert a03["recent"][-1] == [1760868900.0, "view", "a2"]
    a01 = trained.profiles.get("A01")
    assert a01 is not None
    assert all(0 <= ts <= TS_MAX for ts, *_ in a01["recent"])


def test_decay_mode_moves_the_vector_toward_new_items(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__FOLD_IN", "decay")
    with open_recommender(recommend_context()) as engine:
        engine.catalogue.put(CATALOGUE)
        engine.publish(taste_events())
        drain(engine.ctx)
        retrain(engine)
        _, factors = engine.require_model()
        now = time.time()
        engine.publish([UserEvent("B02", "view", now, "g1")])
        drain(engine.ctx)
        before = engine.profiles.get("B02")
        assert before is not None
        assert before["version"] == "v0001"
        engine.publish([UserEvent("B02", "purchase", now + 1, "b1")])
        drain(engine.ctx)
        after = engine.profiles.get("B02")
        assert after is not None
        expected = factors.decayed(np.array(before["vector"], dtype=np.float32), "b1", 4.0, 0.9)
        assert expected is not None
        np.testing.assert_allclose(after["vector"], expected, atol=1e-5)
        assert json.dumps(after)  # the profile stays plain JSON


def test_impressions_are_published_in_the_background() -> None:
    published: list[list[UserEvent]] = []

    def publish(batch: list[UserEvent]) -> int:
        published.append(batch)
        return len(batch)

    log = ImpressionLog(publish, every=0.05)
    served = UserEvent("u", "rec_served", 1.0, items=("a", "b"))
    log.add(served)
    deadline = time.monotonic() + 10
    while not published:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert published == [[served]]
    log.add(served)
    log.close()
    assert published[-1] == [served]


def test_applying_an_event_leaves_the_given_state_unchanged(trained: Recommender) -> None:
    version, factors = trained.require_model()
    state = trained.profiles.get("A01")
    assert state is not None
    before = copy.deepcopy(state)
    for kind, item in (("view", "a1"), ("rec_ignore", "b1"), ("purchase", "g2")):
        event = UserEvent("A01", kind, time.time(), item)
        updated = apply_event(state, event, (version.version, factors), trained.config)
        assert state == before
        assert updated["recent"][-1] == [event.ts, kind, item]


def test_status_counts_users_without_reading_their_profiles(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pipeline keeps a user counter (once per user, not per event); ``status`` reads it
    instead of every profile key. Profiles written before the counter are added by the
    retraining, which reads every profile anyway, until their next event counts them."""
    from skybridge.apps.recommend.profiles import PIPELINE, empty_profile
    from skybridge.apps.recommend.status import status
    from skybridge.runtime.state import Guarded

    profiles = f"state/{PIPELINE}/"
    scan = type(trained.kv).scan_prefix

    def no_profile_scans(self: Any, prefix: str = "", **options: Any) -> Any:
        assert not prefix.startswith(profiles), "status read the profiles"
        return scan(self, prefix, **options)

    with monkeypatch.context() as patched:
        patched.setattr(type(trained.kv), "scan_prefix", no_profile_scans)
        assert status(trained)["users"] == 16
    trained.publish([UserEvent("A01", "view", time.time(), "a2", "eu")])  # a known user
    trained.publish([UserEvent("N01", "view", time.time(), "a2", "eu")] * 2)  # a new one
    drain(trained.ctx)
    assert status(trained)["users"] == 17
    legacy = {**empty_profile("OLD1"), "items": {"a1": [1.0, time.time()]}}
    trained.kv.put(profiles + "OLD1", Guarded(legacy).encode())  # before the counter existed
    assert status(trained)["users"] == 17
    retrain(trained)
    assert status(trained)["users"] == 18
    trained.publish([UserEvent("OLD1", "view", time.time(), "a3", "eu")])  # now counted
    drain(trained.ctx)
    retrain(trained)
    assert status(trained)["users"] == 18
    assert sum(1 for _ in trained.kv.keys(profiles)) == 18

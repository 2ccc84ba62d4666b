"""``/api/recommend``: recommendations, events, training; bad input is a 4xx that says what to
fix, and nothing is published from a request with one bad event."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from tests.apps.recommend.conftest import drain

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.profiles import apply_event
from skybridge.apps.recommend.service import Recommender, shared_recommender
from skybridge.runtime.state import Guarded
from skybridge.testing.service import ServiceHarness, service_harness


@pytest.fixture
def service(trained: Recommender) -> Iterator[ServiceHarness]:
    with service_harness([find_app(discover_apps(), "recommend")]) as harness:
        yield harness


def test_recommendations_with_filters(service: ServiceHarness, trained: Recommender) -> None:
    response = service.client.get(
        "/api/recommend/A01", params={"k": 3, "category": "gamma"}, headers=service.auth
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == "v0001"
    assert body["strategy"] == "personal"
    assert 1 <= len(body["items"]) <= 3
    assert {i["category"] for i in body["items"]} == {"gamma"}
    cold = service.client.get(
        "/api/recommend/stranger", params={"segment": "us", "k": 2}, headers=service.auth
    ).json()
    assert cold["strategy"] == "popular"
    assert {i["category"] for i in cold["items"]} == {"beta"}


def test_served_lists_and_feedback_become_metrics(
    service: ServiceHarness, trained: Recommender
) -> None:
    served = service.client.get("/api/recommend/A04?k=4", headers=service.auth).json()
    first = served["items"][0]["item"]
    posted = service.client.post(
        "/api/recommend/events",
        headers=service.auth,
        json={"events": [{"user": "A04", "item": first, "kind": "rec_click"}]},
    )
    assert posted.json() == {"published": 1}
    shared_recommender(trained.ctx).impressions.flush()  # the service publishes them every 0.5 s
    drain(trained.ctx)
    metrics = service.client.get("/api/recommend/metrics", headers=service.auth).json()
    assert metrics["impressions"] == 4, metrics
    assert metrics["rec_click"] == 1, metrics
    assert metrics["click_through"] == 0.25
    assert metrics["coverage"] == round(4 / metrics["model_items"], 6)
    profile = service.client.get("/api/recommend/A04/profile", headers=service.auth).json()
    assert profile["recent"][0]["kind"] == "rec_click"


def test_bad_input_is_refused_and_nothing_is_published(
    service: ServiceHarness, trained: Recommender
) -> None:
    before = trained.streams.end_offsets(trained.config.topic)
    bad = service.client.post(
        "/api/recommend/events",
        headers=service.auth,
        json={"events": [{"user": "A01", "item": "a1", "kind": "view"}, {"user": "A01"}]},
    )
    assert bad.status_code == 422
    assert "events[1]" in bad.json()["message"]
    assert trained.streams.end_offsets(trained.config.topic) == before
    for path in ("/api/recommend/A01?k=0", "/api/recommend/A01?k=x", "/api/recommend/bad%20user"):
        response = service.client.get(path, headers=service.auth)
        assert response.status_code == 422, path
        assert response.json()["message"]
    served = service.client.post(
        "/api/recommend/events",
        headers=service.auth,
        json={"events": [{"user": "A01", "kind": "rec_served", "items": ["a1"]}]},
    )
    assert served.status_code == 422


def test_train_and_versions(service: ServiceHarness, trained: Recommender) -> None:
    trainer = service.client.post("/api/recommend/train", headers=service.auth)  # no body
    assert trainer.status_code == 200, trainer.text
    assert trainer.json()["version"] == "v0002"
    versions = service.client.get("/api/recommend/versions", headers=service.auth).json()
    assert [(v["version"], v["current"]) for v in versions] == [("v0002", True), ("v0001", False)]
    status = service.client.get("/api/recommend/status", headers=service.auth).json()
    assert status["model"]["version"] == "v0002"
    assert status["catalogue_items"] == 18


def test_event_times_out_of_range_are_refused(
    service: ServiceHarness, trained: Recommender
) -> None:
    before = trained.streams.end_offsets(trained.config.topic)
    for ts in (1e308, -5, "2200-01-01T00:00:00Z"):
        event = {"user": "U01", "item": "I019", "kind": "view", "ts": ts}
        response = service.client.post(
            "/api/recommend/events", headers=service.auth, json={"events": [event]}
        )
        assert response.status_code == 422, (ts, response.text)
        assert "events[0]: ts" in response.json()["message"]
    # NaN is no JSON, but Python's reader takes the token: it must not get through either
    raw = b'{"events": [{"user": "U01", "item": "I019", "kind": "view", "ts": NaN}]}'
    response = service.client.post(
        "/api/recommend/events",
        headers={**service.auth, "content-type": "application/json"},
        content=raw,
    )
    assert response.status_code == 422, response.text
    assert trained.streams.end_offsets(trained.config.topic) == before


def test_the_page_and_the_profile_cope_with_a_bad_stored_time(
    service: ServiceHarness, trained: Recommender
) -> None:
    # profiles written before event times were checked
    for user, ts in (("A01", 1e308), ("A02", math.nan)):
        profile = trained.profiles.get(user)
        assert profile is not None
        event = UserEvent(user, "view", ts, "a1")
        changed = apply_event(profile, event, None, trained.config)
        trained.kv.put(trained.profiles.store.prefix + user, Guarded(changed, {}).encode())
    shared_recommender(trained.ctx).profiles.store.invalidate()
    service.login()
    page = service.client.get("/ui/recommend")
    assert page.status_code == 200, page.text[-2000:]
    for user in ("A01", "A02"):
        form = {"csrf": service.csrf, "action": "show", "user": user}
        page = service.client.post("/ui/recommend", data=form)
        assert page.status_code == 200
        assert "—" in page.text
        shown = service.client.get(f"/api/recommend/{user}/profile", headers=service.auth)
        assert shown.status_code == 200, shown.text
        assert shown.json()["recent"][0]["ts"] is None


def test_a_refused_user_id_shows_no_other_users_recommendations(
    service: ServiceHarness, trained: Recommender
) -> None:
    service.login()
    first = service.client.get("/ui/recommend").text
    assert 'class="table recommendations"' in first  # the first user's, when none was asked
    for user, said in (("", "a user id is required"), ("a/b", "user id &#39;a/b&#39; is not")):
        page = service.client.post(
            "/ui/recommend", data={"csrf": service.csrf, "action": "show", "user": user}
        )
        assert said in page.text
        assert "a user id is 1-128 letters" in page.text
        assert 'class="table recommendations"' not in page.text
    linked = service.client.get("/ui/recommend?user=a%2Fb").text  # the form's GET
    assert "user id &#39;a/b&#39; is not" in linked
    assert 'class="table recommendations"' not in linked
    assert 'form method="get" action="/ui/recommend"' in linked

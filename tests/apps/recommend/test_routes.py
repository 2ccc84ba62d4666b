"""``/api/recommend``: recommendations, events, training; bad input is a 4xx that says what to
fix, and nothing is published from a request with one bad event."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.apps.recommend.conftest import drain

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.recommend.service import Recommender, shared_recommender
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
    trainer = service.client.post("/api/recommend/train", headers=service.auth, json={})
    assert trainer.status_code == 200, trainer.text
    assert trainer.json()["version"] == "v0002"
    versions = service.client.get("/api/recommend/versions", headers=service.auth).json()
    assert [(v["version"], v["current"]) for v in versions] == [("v0002", True), ("v0001", False)]
    status = service.client.get("/api/recommend/status", headers=service.auth).json()
    assert status["model"]["version"] == "v0002"
    assert status["catalogue_items"] == 18

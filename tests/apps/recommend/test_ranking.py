"""Serving: seen items never come back, filters run in the vector backend, MMR diversifies,
cold starts get popular items of their segment."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from tests.apps.recommend.conftest import drain

from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.model import AlsParams, ItemFactors
from skybridge.apps.recommend.ranking import mmr_order, recommend
from skybridge.apps.recommend.service import Recommender
from skybridge.core.errors import ValidationError


def test_users_get_their_taste_without_seen_items(trained: Recommender) -> None:
    for user, own, other in (("A01", "alpha", "beta"), ("B03", "beta", "alpha")):
        profile = trained.profiles.get(user)
        assert profile is not None
        found = recommend(trained, user, k=10, record=False)
        assert found.strategy == "personal"
        assert not set(found.ids()) & set(profile["items"])
        categories = [r.category for r in found.items]
        assert own in categories
        # the user's own category comes before the other group's
        assert min(n for n, c in enumerate(categories) if c == own) < min(
            n for n, c in enumerate(categories) if c == other
        )


def test_filters_are_pushed_down_to_the_vector_backend(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[Any] = []
    query = trained.vectors.query

    def spy(name: str, vector: Any, **kw: Any) -> Any:
        asked.append(kw["flt"])
        return query(name, vector, **kw)

    monkeypatch.setattr(trained.vectors, "query", spy)
    found = recommend(trained, "A01", k=5, categories=["gamma"], record=False)
    assert asked
    assert asked[0].to_dict() == {
        "available": {"eq": True},
        "category": {"in": ["gamma"]},
    }
    assert found.items
    assert {r.category for r in found.items} == {"gamma"}


def test_unavailable_items_are_never_recommended(trained: Recommender) -> None:
    every = recommend(trained, "A02", k=17, record=False).ids()
    assert "a6" not in every
    included = recommend(trained, "A02", k=17, include_unavailable=True, record=False).ids()
    assert "a6" in included or "a6" in trained.profiles.get("A02")["items"]  # type: ignore[index]


def test_ignored_items_are_hidden_and_a_new_event_updates_the_user(trained: Recommender) -> None:
    first = recommend(trained, "A03", k=2, record=False).ids()
    trained.publish([UserEvent("A03", "rec_ignore", 0.0 + 1e9, first[0])])
    drain(trained.ctx)
    assert first[0] not in recommend(trained, "A03", k=10, record=False).ids()
    before = trained.profiles.get("B01")
    assert before is not None
    trained.publish([UserEvent("B01", "purchase", 2e9, "g1")])
    drain(trained.ctx)
    after = trained.profiles.get("B01")
    assert after is not None
    assert after["version"] == "v0001"
    assert after["vector"] != before["vector"]
    assert "g1" not in recommend(trained, "B01", k=10, record=False).ids()


def test_cold_start_is_popular_in_the_segment(trained: Recommender) -> None:
    eu = recommend(trained, "newcomer", k=3, segment="eu", record=False)
    us = recommend(trained, "newcomer", k=3, segment="us", record=False)
    assert eu.strategy == us.strategy == "popular"
    assert {r.category for r in eu.items} == {"alpha"}
    assert {r.category for r in us.items} == {"beta"}
    assert all("segment" in r.reason for r in eu.items)
    overall = recommend(trained, "newcomer", k=20, record=False)
    assert overall.strategy == "popular"
    assert "a6" not in overall.ids()


def test_no_model_yet_answers_an_empty_list(engine: Recommender) -> None:
    found = recommend(engine, "anyone", record=False)
    assert found.strategy == "none"
    assert found.items == []


@pytest.mark.parametrize("k", [0, 101, True, "3"])
def test_bad_k_is_refused(trained: Recommender, k: Any) -> None:
    with pytest.raises(ValidationError, match="k must be"):
        recommend(trained, "A01", k=k, record=False)


def test_bad_user_or_category_is_refused(trained: Recommender) -> None:
    with pytest.raises(ValidationError, match="user id"):
        recommend(trained, "bad user!", record=False)
    with pytest.raises(ValidationError, match="category"):
        recommend(trained, "A01", categories=[" "], record=False)
    for bad, said in (
        (b"gamma", "got bytes"),
        ({"gamma": 1}, "got dict"),
        (7, "got int"),
        (["gamma", 7], "category 7 must be"),
    ):
        with pytest.raises(ValidationError, match=said):
            recommend(trained, "A01", categories=bad, record=False)  # type: ignore[arg-type]


def test_a_single_category_string_is_one_category(trained: Recommender) -> None:
    one = recommend(trained, "A01", k=5, categories="gamma", record=False)
    assert one.items
    assert {r.category for r in one.items} == {"gamma"}
    assert one.ids() == recommend(trained, "A01", k=5, categories=["gamma"], record=False).ids()
    several = recommend(trained, "A01", k=10, categories=("gamma", "beta"), record=False)
    assert {r.category for r in several.items} <= {"gamma", "beta"}
    assert {r.category for r in several.items} >= {"gamma"}


def test_mmr_trades_relevance_for_diversity() -> None:
    # items 0-2 are near-duplicates with the best scores; 3 points elsewhere
    vectors = np.array([[1, 0], [0.99, 0.01], [0.98, 0.02], [0, 1]], dtype=np.float32)
    factors = ItemFactors(["x", "x2", "x3", "y"], vectors, AlsParams(2, 0.1, 1.0, 1))
    scores = [1.0, 0.99, 0.98, 0.5]
    ids = ["x", "x2", "x3", "y"]
    assert mmr_order(factors, ids, scores, 2, 1.0) == [0, 1]
    assert mmr_order(factors, ids, scores, 2, 0.5) == [0, 3]
    assert sorted(mmr_order(factors, ids, scores, 4, 0.5)) == [0, 1, 2, 3]

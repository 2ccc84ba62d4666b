"""Retrainings and catalogue loads that overlap: each retraining publishes under its own claimed
id and the pointer only moves forward; a reader never caches a collection short of the items
its description counts; a catalogue load while a retraining runs reaches the new version."""

from __future__ import annotations

from typing import Any

import pytest
from tests.apps.recommend.conftest import recommend_context

from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.model import ItemFactors
from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Recommender, open_recommender
from skybridge.apps.recommend.training import TrainReport, retrain
from skybridge.apps.recommend.versions import ModelVersion
from skybridge.core.errors import TransientError


def test_two_retrainings_at_once_claim_different_ids_and_the_later_one_stays_served(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    upsert = trained.vectors.upsert
    overlapping: list[TrainReport] = []
    with (
        open_recommender(recommend_context()) as other,
        open_recommender(recommend_context()) as reader,
    ):

        def another_retraining_meanwhile(name: str, records: Any) -> int:
            written = upsert(name, records)
            monkeypatch.setattr(trained.vectors, "upsert", upsert)
            # e.g. the scheduled job while /train writes: it claims, publishes and swaps first
            overlapping.append(retrain(other))
            return written

        monkeypatch.setattr(trained.vectors, "upsert", another_retraining_meanwhile)
        first = retrain(trained)
        version, factors = reader.require_model()
        [second] = overlapping
    assert (second.trained, second.version) == (True, "v0003")
    assert (first.trained, first.version) == (False, "v0003")
    assert "v0002 was discarded" in first.reason
    assert version.version == "v0003"
    assert len(factors.ids) == version.items == trained.vectors.count("items_v0003")
    assert [v.version for v in trained.versions.list()] == ["v0001", "v0003"]
    assert "items_v0002" not in {c.name for c in trained.vectors.list_collections()}


def test_a_reader_never_caches_a_collection_short_of_its_described_items(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_recommender(recommend_context()) as reader:
        version = reader.versions.current()
        assert version is not None
        scan = reader.vectors.scan

        def dropped_under_the_scan(*args: Any, **kwargs: Any) -> Any:
            return iter(list(scan(*args, **kwargs))[:5])

        monkeypatch.setattr(reader.vectors, "scan", dropped_under_the_scan)
        with pytest.raises(TransientError, match="5 of its 18 item vectors"):
            reader.versions.factors(version)
        monkeypatch.setattr(reader.vectors, "scan", scan)
        assert len(reader.versions.factors(version).ids) == 18


def test_a_catalogue_load_while_a_retraining_runs_reaches_the_new_version(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = trained.versions.publish
    sold_out = Item("b1", "Beta 1", "beta", available=False)

    def load_then_publish(version: ModelVersion, factors: ItemFactors, items: Any) -> bool:
        # `recommend load` in another process, after the retraining read the catalogue
        with open_recommender(recommend_context()) as loader:
            loader.catalogue.put([sold_out])
            assert loader.versions.update_items({sold_out.id: sold_out}) == 1
        return publish(version, factors, items)

    monkeypatch.setattr(trained.versions, "publish", load_then_publish)
    assert retrain(trained).version == "v0002"
    [held] = trained.vectors.get("items_v0002", ["b1"])
    assert held.metadata["available"] is False
    beta = recommend(trained, "A01", k=6, categories="beta", record=False)
    assert "b1" not in beta.ids()


def test_a_retraining_overtaken_on_the_same_store_between_claim_and_publish_is_discarded(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two POST /train on one process share one VersionStore: B claims, publishes and swaps
    # while A holds its claim and has not published yet
    publish = trained.versions.publish
    overlapping: list[TrainReport] = []

    def another_retraining_first(
        version: ModelVersion, factors: ItemFactors, items: dict[str, Item]
    ) -> bool:
        monkeypatch.setattr(trained.versions, "publish", publish)
        overlapping.append(retrain(trained))
        return publish(version, factors, items)

    monkeypatch.setattr(trained.versions, "publish", another_retraining_first)
    first = retrain(trained)
    [second] = overlapping
    assert (second.trained, second.version) == (True, "v0003")
    assert (first.trained, first.version) == (False, "v0003")
    assert "v0002 was discarded" in first.reason
    current = trained.versions.current()
    assert current is not None
    assert current.version == "v0003"
    assert [v.version for v in trained.versions.list()] == ["v0001", "v0003"]
    assert "items_v0002" not in {c.name for c in trained.vectors.list_collections()}

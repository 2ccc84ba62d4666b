"""Retraining publishes a complete new version, then swaps the pointer: readers see the old
model or the new one, never a half-written one; a failed retraining leaves the old one served."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from tests.apps.recommend.conftest import CATALOGUE, drain, recommend_context, taste_events

from skybridge.apps.recommend.jobs import scheduled_retrain
from skybridge.apps.recommend.model import ItemFactors
from skybridge.apps.recommend.ranking import recommend
from skybridge.apps.recommend.service import Recommender, open_recommender
from skybridge.apps.recommend.training import retrain
from skybridge.core.errors import TransientError
from skybridge.runtime.scheduler import JobRun


def test_readers_see_the_old_version_until_the_swap(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_during: list[str] = []
    upsert = trained.vectors.upsert
    with open_recommender(recommend_context()) as reader:
        assert recommend(reader, "A01", record=False).version == "v0001"

        def half_written(name: str, records: Any) -> int:
            written = upsert(name, records)
            # the new collection is complete here, but not yet served
            seen_during.append(recommend(reader, "A01", record=False).version)
            assert reader.versions.current().version == "v0001"  # type: ignore[union-attr]
            return written

        monkeypatch.setattr(trained.vectors, "upsert", half_written)
        report = retrain(trained)
        assert seen_during == ["v0001"]
        assert (report.version, report.previous) == ("v0002", "v0001")
        after = recommend(reader, "A01", record=False)
        assert after.version == "v0002"
        assert after.strategy == "personal"


def test_a_failed_retraining_keeps_the_served_version(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(name: str, records: Any) -> int:
        list(records)
        raise TransientError("vector store unavailable")

    monkeypatch.setattr(trained.vectors, "upsert", broken)
    with pytest.raises(TransientError):
        retrain(trained)
    monkeypatch.undo()
    assert trained.versions.current().version == "v0001"  # type: ignore[union-attr]
    assert recommend(trained, "A01", record=False).version == "v0001"
    # the failed one's id stays claimed; the next retraining drops what it left
    assert retrain(trained).version == "v0003"
    version, factors = trained.require_model()
    assert trained.vectors.count(version.collection) == len(factors.ids)
    assert "items_v0002" not in {c.name for c in trained.vectors.list_collections()}
    assert not trained.kv.exists("recommend/items/claims/v0002")


def test_requests_asking_while_factors_are_read_share_that_read(
    trained: Recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []
    with open_recommender(recommend_context()) as reader:
        version = reader.versions.current()
        assert version is not None
        scan = reader.vectors.scan

        def slow_scan(*args: Any, **kwargs: Any) -> Any:
            scans.append(threading.get_ident())
            time.sleep(0.2)
            return scan(*args, **kwargs)

        monkeypatch.setattr(reader.vectors, "scan", slow_scan)
        together = threading.Barrier(6)

        def first_request(_: int) -> Any:
            together.wait()
            return reader.versions.factors(version)

        with ThreadPoolExecutor(6) as pool:
            loaded = list(pool.map(first_request, range(6)))
    assert len(scans) == 1
    assert all(factors is loaded[0] for factors in loaded)


def test_a_long_lived_reader_keeps_only_the_served_and_the_previous_factors(
    trained: Recommender,
) -> None:
    loaded: dict[str, weakref.ref[ItemFactors]] = {}
    with open_recommender(recommend_context()) as reader:  # the HTTP service's engine
        for _ in range(4):
            version, factors = reader.require_model()
            loaded[version.version] = weakref.ref(factors)
            with open_recommender(recommend_context()) as job:  # the scheduled job's engine
                assert retrain(job).trained
        version, factors = reader.require_model()
        gc.collect()
        kept = sorted(name for name, ref in loaded.items() if ref() is not None)
    assert version.version == "v0005"
    assert kept == ["v0004"]


def test_old_versions_are_dropped(trained: Recommender) -> None:
    for _ in range(3):
        retrain(trained)
    kept = [v.version for v in trained.versions.list()]
    assert kept == ["v0002", "v0003", "v0004"]
    collections = {c.name for c in trained.vectors.list_collections()}
    assert "items_v0001" not in collections
    assert "items_v0004" in collections


def test_a_window_without_enough_events_keeps_the_model(trained: Recommender) -> None:
    report = retrain(trained, now=10 * 365 * 86_400.0 + 2e9)
    assert not report.trained
    assert "min_interactions" in report.reason
    assert trained.versions.current().version == "v0001"  # type: ignore[union-attr]


def test_factors_are_capped_by_the_catalogue_size(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__RECOMMEND__FACTORS", "64")
    with open_recommender(recommend_context()) as engine:
        engine.catalogue.put(CATALOGUE)
        engine.publish(taste_events())
        drain(engine.ctx)
        retrain(engine)
        version, factors = engine.require_model()
    assert version.items == 18
    assert version.params.factors == 4
    assert factors.factors.shape == (18, 4)


def test_the_scheduled_job_retrains_over_the_window(trained: Recommender) -> None:
    job = scheduled_retrain(trained.ctx)
    assert job.every == 86_400.0
    result = job.run(JobRun("recommend.retrain", 0.0, "test", 1))
    assert result["trained"] is True
    assert result["version"] == "v0002"
    assert result["window_days"] == 7.0
    assert trained.versions.current().version == "v0002"  # type: ignore[union-attr]

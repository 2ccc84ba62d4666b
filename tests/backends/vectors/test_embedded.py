"""The ``embedded://`` vector store: the contract (exact and HNSW), persistence, catch-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from skybridge.backends.vectors import VectorRecord, connect
from skybridge.core.errors import ConfigError
from skybridge.testing.contracts.vectors import VectorsContract, exact_top, unit_vectors


class TestEmbeddedExact(VectorsContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Any:
        return lambda: connect(f"embedded://{tmp_path}/vectors")


class TestEmbeddedHnsw(VectorsContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Any:
        return lambda: connect(f"embedded://{tmp_path}/vectors?ann_threshold=1&exact_limit=5")


def test_hnsw_graph_is_saved_and_caught_up_by_another_process(tmp_path: Path) -> None:
    url = f"embedded://{tmp_path}/v?ann_threshold=100&exact_limit=10"
    vectors = unit_vectors(400, 24)
    with connect(url) as store:
        store.create_collection("docs", 24)
        store.upsert("docs", [VectorRecord(f"r{i}", vectors[i], {"i": i}) for i in range(300)])
        assert store.query("docs", vectors[5], k=1)[0].id == "r5"
    saved = list((tmp_path / "v").glob("docs-*.usearch"))
    assert len(saved) == 1
    with connect(url) as writer, connect(url) as reader:
        assert reader.query("docs", vectors[7], k=1)[0].id == "r7"
        writer.upsert(
            "docs", [VectorRecord(f"r{i}", vectors[i], {"i": i}) for i in range(300, 400)]
        )
        writer.delete("docs", ["r7"])
        assert reader.query("docs", vectors[350], k=1)[0].id == "r350"
        assert reader.query("docs", vectors[7], k=1)[0].id != "r7"
        assert reader.count("docs") == 399


def test_hnsw_recall_against_exact_search(tmp_path: Path) -> None:
    vectors = unit_vectors(3000, 32)
    with connect(f"embedded://{tmp_path}/v?ann_threshold=1000") as store:
        store.create_collection("docs", 32)
        store.upsert("docs", [VectorRecord(f"{i}", vectors[i], {"g": i % 10}) for i in range(3000)])
        hits = 0
        for seed in range(20):
            query = unit_vectors(1, 32, seed=seed + 50)[0]
            expected = {str(i) for i in exact_top(vectors, query, 10, list(range(3000)))}
            hits += len(expected & {m.id for m in store.query("docs", query, k=10)})
        assert hits / 200 >= 0.9


def test_bad_options_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ann_threshold"):
        connect(f"embedded://{tmp_path}/v?ann_threshold=lots")
    with pytest.raises(ConfigError):
        connect(f"embedded://{tmp_path}/v?colour=blue")


def test_files_are_private(tmp_path: Path) -> None:
    with connect(f"embedded://{tmp_path}/v") as store:
        store.create_collection("docs", 3)
    assert (tmp_path / "v" / "vectors.db").stat().st_mode & 0o077 == 0

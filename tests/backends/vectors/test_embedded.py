"""The ``embedded://`` vector store: the contract (exact and HNSW), persistence, catch-up."""

from __future__ import annotations

import json
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from skybridge.backends.vectors import VectorRecord, connect
from skybridge.backends.vectors.embedded import EmbeddedVectorStore, ann
from skybridge.backends.vectors.embedded.ann import HnswIndex
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


def test_a_process_holding_records_whose_tombstones_were_pruned_reads_them_again(
    tmp_path: Path,
) -> None:
    """Another process's copy from before a prune cannot catch up from the tombstones (the
    deletion of what it holds is gone): it loads the collection again, never returning a
    deleted record."""
    url = f"embedded://{tmp_path}/v"
    with connect(url, keep_deleted=4) as writer, connect(url) as reader:
        writer.create_collection("docs", 2)
        old = [f"a{n}" for n in range(10)]
        writer.upsert("docs", [VectorRecord(i, [1, 0], {"round": -1}) for i in old])
        held = writer.collection("docs")
        assert reader.count("docs") == 10  # the reader holds the collection now
        for round_ in range(2):  # re-ingests: new ids written, the old ones deleted
            new = [f"b{round_}-{n}" for n in range(10)]
            writer.upsert("docs", [VectorRecord(i, [1, 0], {"round": round_}) for i in new])
            writer.delete("docs", old)
            old = new
        # the tombstones of the "a" records are gone: the feed cannot tell from there
        assert writer.changes("docs", held.revision, generation=held.generation) is None
        live = {r.id for r in writer.scan("docs")}
        assert live == set(old)
        assert {m.id for m in reader.query("docs", [1, 0], k=50)} == live
        assert {m.id for m in reader.query("docs", [1, 0], k=50, flt={"round": -1})} == set()
        assert reader.count("docs") == 10


def test_a_saved_graph_older_than_the_pruned_tombstones_is_built_again(tmp_path: Path) -> None:
    """A saved HNSW graph whose revision is older than the collection's oldest tombstones may
    hold deleted rows the tombstones no longer name: it is built again, not caught up."""
    url = f"embedded://{tmp_path}/v?ann_threshold=100&exact_limit=10"
    vectors = unit_vectors(650, 24)
    with connect(url) as store:
        store.create_collection("docs", 24)
        store.upsert("docs", [VectorRecord(f"r{i}", vectors[i], {}) for i in range(300)])
        assert store.query("docs", vectors[5], k=1)[0].id == "r5"  # the graph is built, saved
    (meta,) = (tmp_path / "v").glob("docs-*.json")
    saved = json.loads(meta.read_text())["revision"]
    with connect(url, keep_deleted=10) as writer:  # writes, never queries: holds no graph
        for round_ in range(7):  # 50 of 300 replaced each round: the 7th prunes
            start = 50 * round_
            writer.delete("docs", [f"r{i}" for i in range(start, start + 50)])
            writer.upsert(
                "docs",
                [VectorRecord(f"r{i}", vectors[i], {}) for i in range(start + 300, start + 350)],
            )
        info = writer.collection("docs")
        assert writer.changes("docs", saved, generation=info.generation) is None
    with connect(url) as reader:
        assert reader.query("docs", vectors[620], k=1)[0].id == "r620"
        assert isinstance(reader, EmbeddedVectorStore)
        ann = reader._held["docs"].ann
        assert ann is not None
        assert len(ann) == reader.count("docs") == 300  # no deleted row left in the graph
        rebuilt = json.loads(meta.read_text())["revision"]
        assert rebuilt == info.revision  # built again, and saved at once


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
    with pytest.raises(ConfigError, match="keep_deleted"):
        connect(f"embedded://{tmp_path}/v", keep_deleted=0)


def test_files_are_private(tmp_path: Path) -> None:
    with connect(f"embedded://{tmp_path}/v") as store:
        store.create_collection("docs", 3)
    assert (tmp_path / "v" / "vectors.db").stat().st_mode & 0o077 == 0


def test_graphs_saved_at_once_never_fail_and_a_loaded_graph_has_its_own_revision(
    tmp_path: Path,
) -> None:
    path = tmp_path / "docs-g.usearch"
    vectors = unit_vectors(60, 8)

    def graph(revision: int) -> HnswIndex:
        index = HnswIndex(8, "cosine", ef_search=16)
        index.add(np.arange(10 + revision, dtype=np.int64), vectors[: 10 + revision])
        index.revision = revision
        return index

    graphs = [graph(revision) for revision in range(8)]
    start = threading.Barrier(9)
    loads: list[tuple[int, int]] = []

    def save(index: HnswIndex) -> None:
        start.wait()
        for _ in range(10):
            index.save(path)

    def load(saving: list[Future[None]]) -> None:
        start.wait()
        while True:  # until the saves are over, and once more after
            over = all(future.done() for future in saving)
            found = HnswIndex.load(path, 8, "cosine", ef_search=16)
            if found is not None:
                loads.append((found.revision, len(found)))
            if over:
                return

    with ThreadPoolExecutor(9) as pool:
        saving = [pool.submit(save, index) for index in graphs]
        reading = pool.submit(load, saving)
        for future in [*saving, reading]:
            future.result()  # an error in any save or load is raised here
    assert loads  # the reader found graphs (at the latest once the saves were over)
    assert all(size == 10 + revision for revision, size in loads)  # each with its revision
    assert not list(tmp_path.glob("*.tmp"))
    graphs[3].save(path)
    found = HnswIndex.load(path, 8, "cosine", ef_search=16)
    assert found is not None
    assert (found.revision, len(found)) == (3, 13)
    saved = {p.name for p in tmp_path.glob("docs-g.r*.usearch")}
    assert all(int(name.split(".r")[1].split("-")[0]) >= 3 for name in saved)  # older swept
    meta = json.loads((tmp_path / "docs-g.json").read_text())
    (tmp_path / meta["graph"]).unlink()  # deleted by another process's sweep
    assert HnswIndex.load(path, 8, "cosine", ef_search=16) is None


def test_a_graph_from_before_saves_named_their_file_is_built_again(tmp_path: Path) -> None:
    vectors = unit_vectors(300, 24)
    url = f"embedded://{tmp_path}/v?ann_threshold=100&exact_limit=10"
    with connect(url) as store:
        store.create_collection("docs", 24)
        store.upsert("docs", [VectorRecord(f"r{i}", vectors[i], {}) for i in range(300)])
        assert store.query("docs", vectors[5], k=1)[0].id == "r5"
    (meta,) = (tmp_path / "v").glob("docs-*.json")
    revision = json.loads(meta.read_text())["revision"]
    (graph,) = (tmp_path / "v").glob("docs-*.usearch")
    legacy = meta.with_suffix(".usearch")
    graph.rename(legacy)  # the layout before: one file, and a revision naming none
    meta.write_text(json.dumps({"revision": revision}))
    with connect(url) as store:
        assert store.query("docs", vectors[7], k=1)[0].id == "r7"
    assert not legacy.exists()  # built again and saved; the old file swept
    assert "graph" in json.loads(meta.read_text())


def test_a_graph_that_cannot_be_saved_leaves_reads_working_and_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(source: Any, target: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ann, "os", SimpleNamespace(getpid=os.getpid, replace=full_disk))
    vectors = unit_vectors(300, 24)
    with connect(f"embedded://{tmp_path}/v?ann_threshold=100&exact_limit=10") as store:
        store.create_collection("docs", 24)
        store.upsert("docs", [VectorRecord(f"r{i}", vectors[i], {}) for i in range(300)])
        assert store.query("docs", vectors[5], k=1)[0].id == "r5"  # through the graph, unsaved
        assert isinstance(store, EmbeddedVectorStore)
        assert store._held["docs"].ann is not None
    left = sorted(p.name for p in (tmp_path / "v").iterdir())
    assert not [name for name in left if ".usearch" in name or ".tmp" in name], left

"""Contract suite every vector store passes.

Subclass :class:`VectorsContract` and provide a fixture ``make_store``: a callable returning a
new store on the same backing data (so a second call sees what the first wrote)::

    class TestEmbedded(VectorsContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: connect(f"embedded://{tmp_path}/vectors")

Each test works in collections of its own (random names), so stores on a shared server can
run the suite side by side.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.backends.vectors import Filter, VectorRecord, VectorStore
from skybridge.core.errors import Conflict, NotFound, ValidationError

MakeStore = Callable[[], VectorStore]


def unit_vectors(n: int, dimension: int, seed: int = 7) -> np.ndarray:
    """``n`` random unit vectors (reproducible)."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dimension)).astype(np.float32)
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def exact_top(vectors: np.ndarray, query: np.ndarray, k: int, rows: list[int]) -> list[int]:
    """Indices of the ``k`` best rows of ``vectors`` by cosine similarity to ``query``."""
    scores = vectors[rows] @ (query / np.linalg.norm(query))
    return [rows[i] for i in np.argsort(-scores, kind="stable")[:k]]


METADATA = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.one_of(
        st.integers(-5, 5),
        st.floats(-5, 5, allow_nan=False),
        st.booleans(),
        st.none(),
        st.sampled_from(["x", "y", "z", "2024-01-01", "2024-06-30"]),
    ),
    max_size=3,
)
FILTERS = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.one_of(
        st.integers(-5, 5),
        st.booleans(),
        st.none(),
        st.sampled_from(["x", "y"]),
        st.fixed_dictionaries(
            {"in": st.lists(st.one_of(st.integers(-3, 3), st.just("z")), min_size=1, max_size=3)}
        ),
        st.fixed_dictionaries({"gte": st.integers(-5, 5)}, optional={"lt": st.integers(-5, 5)}),
        st.fixed_dictionaries({"gt": st.sampled_from(["2024-01-01", "x"])}),
    ),
    max_size=2,
)


class CollectionFixtures:
    """A store from the test module's ``make_store`` fixture and a fresh collection in it of
    ``dimension``, dropped after the test."""

    dimension = 16

    @pytest.fixture
    def store(self, make_store: MakeStore) -> Iterator[VectorStore]:
        with make_store() as store:
            yield store

    @pytest.fixture
    def name(self, store: VectorStore) -> Iterator[str]:
        collection = f"c{uuid.uuid4().hex[:12]}"
        store.create_collection(collection, self.dimension)
        yield collection
        store.drop_collection(collection)


class VectorsContract(CollectionFixtures):
    """The behaviour every :class:`VectorStore` shares."""

    def _fill(
        self, store: VectorStore, name: str, n: int, meta: Callable[[int], dict[str, Any]]
    ) -> np.ndarray:
        vectors = unit_vectors(n, self.dimension)
        store.upsert(name, [VectorRecord(f"r{i:05d}", vectors[i], meta(i)) for i in range(n)])
        return vectors

    # -- collections --------------------------------------------------------------------------

    def test_create_describe_list_and_drop(self, store: VectorStore) -> None:
        name = f"c{uuid.uuid4().hex[:12]}"
        info = store.create_collection(name, 8, metric="dot", properties={"model": "m1"})
        assert (info.dimension, info.metric, info.properties, info.count) == (
            8,
            "dot",
            {"model": "m1"},
            0,
        )
        assert name in [c.name for c in store.list_collections()]
        with pytest.raises(Conflict):
            store.create_collection(name, 8)
        assert store.drop_collection(name)
        assert store.describe(name) is None
        assert not store.drop_collection(name)
        with pytest.raises(NotFound):
            store.query(name, [1.0] * 8)

    def test_ensure_collection_refuses_another_shape_or_property(self, store: VectorStore) -> None:
        name = f"c{uuid.uuid4().hex[:12]}"
        store.ensure_collection(name, 4, properties={"model": "a"})
        try:
            assert store.ensure_collection(name, 4, properties={"model": "a"}).dimension == 4
            with pytest.raises(Conflict, match="model"):
                store.ensure_collection(name, 4, properties={"model": "b"})
            with pytest.raises(Conflict, match="4-d"):
                store.ensure_collection(name, 8)
            with pytest.raises(Conflict):
                store.ensure_collection(name, 4, metric="l2")
            updated = store.set_properties(name, {"model": "b", "note": "x"})
            assert updated.properties == {"model": "b", "note": "x"}
        finally:
            store.drop_collection(name)

    def test_bad_collection_names_and_shapes_are_refused(self, store: VectorStore) -> None:
        for bad in ("", "Upper", "has space", "x" * 49, "1st"):
            with pytest.raises(ValidationError):
                store.create_collection(bad, 4)
        with pytest.raises(ValidationError):
            store.create_collection("okname", 0)
        with pytest.raises(ValidationError):
            store.create_collection("okname", 4, metric="hamming")  # type: ignore[arg-type]

    # -- records ------------------------------------------------------------------------------

    def test_upsert_get_replace_and_delete(self, store: VectorStore, name: str) -> None:
        vectors = unit_vectors(3, self.dimension)
        day = date(2024, 5, 1)
        moment = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
        written = store.upsert(
            name,
            [
                VectorRecord("a", vectors[0], {"lang": "en", "day": day, "at": moment, "n": 3}),
                VectorRecord("b", vectors[1], {"lang": "de", "ok": True, "none": None}),
            ],
        )
        assert written == 2
        before = store.collection(name).revision
        got = {r.id: r for r in store.get(name, ["b", "a", "zz"])}
        assert set(got) == {"a", "b"}
        assert got["a"].metadata == {
            "lang": "en",
            "day": "2024-05-01",
            "at": "2024-05-01T12:30:00.000000Z",
            "n": 3,
        }
        assert got["b"].metadata == {"lang": "de", "ok": True, "none": None}
        assert got["a"].vector is not None
        np.testing.assert_allclose(got["a"].vector, vectors[0], rtol=1e-5, atol=1e-6)
        store.upsert(name, [VectorRecord("a", vectors[2], {"lang": "fr"})])
        assert store.get(name, ["a"])[0].metadata == {"lang": "fr"}
        assert store.query(name, vectors[2], k=1)[0].id == "a"
        assert store.collection(name).revision > before
        assert store.collection(name).count == 2
        assert store.delete(name, ["a", "missing"]) == 1
        assert [r.id for r in store.get(name, ["a", "b"])] == ["b"]
        assert store.count(name) == 1
        assert store.collection(name).count == 1

    def test_bad_records_write_nothing(self, store: VectorStore, name: str) -> None:
        good = unit_vectors(1, self.dimension)[0]
        bad_batches: list[list[VectorRecord]] = [
            [VectorRecord("ok", good, {}), VectorRecord("short", good[:3], {})],
            [
                VectorRecord("ok", good, {}),
                VectorRecord("nan", np.full(self.dimension, np.nan), {}),
            ],
            [VectorRecord("ok", good, {}), VectorRecord("ok", good, {})],
            [VectorRecord("ok", good, {}), VectorRecord("", good, {})],
            [VectorRecord("ok", good, {}), VectorRecord("z", np.zeros(self.dimension), {})],
            [VectorRecord("ok", good, {}), VectorRecord("m", good, {"bad key": 1})],
            [VectorRecord("ok", good, {}), VectorRecord("m", good, {"k": [1, 2]})],
            [VectorRecord("ok", good, {}), VectorRecord("m", good, {"k": float("inf")})],
        ]
        for batch in bad_batches:
            with pytest.raises(ValidationError):
                store.upsert(name, batch)
        assert store.count(name) == 0

    def test_scan_pages_in_id_order(self, store: VectorStore, name: str) -> None:
        self._fill(store, name, 25, lambda i: {"even": i % 2 == 0})
        ids = [r.id for r in store.scan(name, page_size=4)]
        assert ids == sorted(ids)
        assert len(ids) == 25
        evens = list(store.scan(name, {"even": True}, page_size=3, vectors=True))
        assert [r.id for r in evens] == [f"r{i:05d}" for i in range(0, 25, 2)]
        assert all(r.vector is not None for r in evens)
        assert all(r.vector is None for r in store.scan(name, page_size=10))

    def test_delete_where_removes_only_matches(self, store: VectorStore, name: str) -> None:
        self._fill(store, name, 20, lambda i: {"doc": f"d{i % 4}"})
        assert store.delete_where(name, {"doc": "d1"}) == 5
        assert store.count(name) == 15
        assert store.count(name, {"doc": "d1"}) == 0
        with pytest.raises(ValidationError):
            store.delete_where(name, {})

    # -- queries ------------------------------------------------------------------------------

    def test_query_returns_the_nearest_best_first(self, store: VectorStore, name: str) -> None:
        vectors = self._fill(store, name, 200, lambda i: {"i": i})
        query = vectors[17] + 0.01
        found = store.query(name, query, k=5)
        assert found[0].id == "r00017"
        assert found[0].score == pytest.approx(
            float(vectors[17] @ query / np.linalg.norm(query)), abs=1e-4
        )
        assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
        expected = exact_top(vectors, query, 5, list(range(200)))
        assert len({m.id for m in found} & {f"r{i:05d}" for i in expected}) >= 4
        assert found[0].metadata == {"i": 17}

    @pytest.mark.parametrize("metric", ["dot", "l2"])
    def test_other_metrics_rank_by_their_own_measure(self, store: VectorStore, metric: str) -> None:
        name = f"c{uuid.uuid4().hex[:12]}"
        store.create_collection(name, 2, metric=metric)  # type: ignore[arg-type]
        try:
            store.upsert(
                name,
                [
                    VectorRecord("near", [1.0, 0.0], {}),
                    VectorRecord("long", [10.0, 1.0], {}),
                    VectorRecord("far", [-1.0, 0.0], {}),
                ],
            )
            found = store.query(name, [1.0, 0.0], k=3)
            order = [m.id for m in found]
            assert order == (
                ["long", "near", "far"] if metric == "dot" else ["near", "far", "long"]
            )
            if metric == "l2":
                assert found[0].score == pytest.approx(0.0, abs=1e-5)
                assert found[1].score == pytest.approx(-2.0, abs=1e-4)
        finally:
            store.drop_collection(name)

    def test_query_input_is_checked(self, store: VectorStore, name: str) -> None:
        with pytest.raises(ValidationError):
            store.query(name, [1.0, 2.0])
        with pytest.raises(ValidationError):
            store.query(name, [1.0] * self.dimension, k=0)
        with pytest.raises(ValidationError, match="operator"):
            store.query(name, [1.0] * self.dimension, flt={"a": {"like": "x"}})
        with pytest.raises(ValidationError):
            store.query(name, [1.0] * self.dimension, flt={"a": {"gte": 1, "lt": "x"}})

    def test_filters_eq_in_ranges_and_dates(self, store: VectorStore, name: str) -> None:
        start = date(2024, 1, 1)
        self._fill(
            store,
            name,
            40,
            lambda i: {
                "lang": ["en", "de", "fr", "es"][i % 4],
                "year": 2000 + i,
                "day": start + timedelta(days=i),
                "flag": i % 5 == 0,
                "one": 1 if i % 2 else True,
            },
        )
        assert store.count(name, {"lang": "en"}) == 10
        assert store.count(name, {"lang": {"in": ["de", "fr"]}}) == 20
        assert store.count(name, {"year": {"gte": 2010, "lt": 2020}}) == 10
        assert store.count(name, {"year": {"gt": 2035.5}}) == 4
        assert (
            store.count(name, {"day": {"gte": date(2024, 1, 11), "lte": date(2024, 1, 20)}}) == 10
        )
        assert store.count(name, {"day": {"gte": datetime(2024, 2, 9, 1, tzinfo=UTC)}}) == 0
        assert store.count(name, {"flag": True}) == 8
        assert store.count(name, {"one": 1}) == 20
        assert store.count(name, {"one": True}) == 20
        assert store.count(name, {"lang": "en", "year": {"lt": 2020}}) == 5
        assert store.count(name, {"missing": None}) == 0
        found = store.query(
            name,
            unit_vectors(1, self.dimension, seed=3)[0],
            k=40,
            flt={"lang": "de", "year": {"gte": 2020}},
        )
        assert sorted(m.id for m in found) == [f"r{i:05d}" for i in range(21, 40, 4)]

    def test_rare_filter_still_returns_k(self, store: VectorStore, name: str) -> None:
        n = 2000
        vectors = self._fill(
            store, name, n, lambda i: {"tenant": "rare" if i % 100 == 7 else "common"}
        )
        rare = [i for i in range(n) if i % 100 == 7]
        for seed in range(5):
            query = unit_vectors(1, self.dimension, seed=100 + seed)[0]
            found = store.query(name, query, k=10, flt={"tenant": "rare"})
            assert len(found) == 10
            assert all(m.metadata["tenant"] == "rare" for m in found)
            expected = {f"r{i:05d}" for i in exact_top(vectors, query, 10, rare)}
            assert len({m.id for m in found} & expected) >= 9

    def test_fewer_matches_than_k_returns_all_matches(self, store: VectorStore, name: str) -> None:
        self._fill(store, name, 50, lambda i: {"x": i})
        found = store.query(
            name, unit_vectors(1, self.dimension)[0], k=10, flt={"x": {"in": [3, 4, 5]}}
        )
        assert sorted(m.id for m in found) == ["r00003", "r00004", "r00005"]

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(metadata=st.lists(METADATA, min_size=1, max_size=12), spec=FILTERS)
    def test_filters_agree_with_their_definition(
        self, store: VectorStore, name: str, metadata: list[dict[str, Any]], spec: dict[str, Any]
    ) -> None:
        if store.count(name):
            store.delete_where(name, {"_t": True})
        vectors = unit_vectors(len(metadata), self.dimension)
        store.upsert(
            name,
            [VectorRecord(f"h{i}", vectors[i], {**m, "_t": True}) for i, m in enumerate(metadata)],
        )
        flt = Filter.parse(spec)
        expected = {f"h{i}" for i, m in enumerate(metadata) if flt.matches(m)}
        assert {r.id for r in store.scan(name, flt)} == expected
        assert store.count(name, flt) == len(expected)
        found = store.query(name, vectors[0], k=max(1, len(metadata)), flt=flt)
        assert {m.id for m in found} == expected
        store.delete(name, [f"h{i}" for i in range(len(metadata))])

    def test_a_second_connection_sees_the_writes(
        self, make_store: MakeStore, store: VectorStore, name: str
    ) -> None:
        vectors = self._fill(store, name, 30, lambda i: {"i": i})
        with make_store() as other:
            assert other.count(name) == 30
            other.delete(name, ["r00001"])
            other.upsert(name, [VectorRecord("new", vectors[1], {"i": -1})])
        assert store.count(name) == 30
        assert store.query(name, vectors[1], k=1)[0].id == "new"
        assert not store.get(name, ["r00001"])

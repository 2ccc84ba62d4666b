"""The BM25 index kept up to date across writes scores and ranks as a fresh bm25s index does,
whether it catches up from the store's change feed or by reading every record."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import pytest
import Stemmer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.apps.rag.keyword import KeywordIndex, keyword_index
from skybridge.backends.vectors import Filter, VectorRecord, VectorStore, connect
from skybridge.backends.vectors.embedded import EmbeddedVectorStore

WORDS = [
    "backup",
    "restore",
    "drill",
    "page",
    "acknowledge",
    "escalate",
    "manager",
    "incident",
    "database",
    "nightly",
    "backups",
    "restoring",
    "paged",
    "the",
    "of",
    "and",
    "a",
    "is",
]
QUERIES = [
    "restore drill",
    "backups backup restoring",
    "page the manager",
    "incident incident database",
    "the of",
    "nothing matches zebra",
]
TEXTS = st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)
#: (operation, a number picking the record, a text); "recreate" drops the collection and makes
#: it again with the same records before the step's other writes
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "remove", "replace", "copy", "recreate"]),
        st.integers(0, 999),
        TEXTS,
    ),
    min_size=1,
    max_size=12,
)


class NoFeed(EmbeddedVectorStore):
    """The embedded store, declaring no change feed: the index reads every record."""

    capabilities = EmbeddedVectorStore.capabilities - {"changes"}


def fresh_scores(store: VectorStore, collection: str, query: str) -> dict[str, float]:
    """Scores of a from-scratch bm25s index of the collection's chunks (above 0)."""
    stemmer = Stemmer.Stemmer("english")
    records = sorted(store.scan(collection), key=lambda r: r.id)
    terms = bm25s.tokenize(
        [query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
    )[0]
    texts = [str(r.metadata["text"]) for r in records]
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    if not terms or not any(tokens.ids):  # bm25s cannot index only empty texts
        return {}
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    scores = np.asarray(retriever.get_scores(terms), dtype=np.float32)
    return {records[i].id: float(scores[i]) for i in np.flatnonzero(scores > 0)}


def ranking(scores: dict[str, float]) -> list[str]:
    return sorted(scores, key=lambda i: (-scores[i], i))


def assert_same_as_fresh(
    store: VectorStore, collection: str, index: KeywordIndex | None = None
) -> None:
    index = index or keyword_index(store, collection)
    for query in QUERIES:
        expected = fresh_scores(store, collection, query)
        found = index.scores(query)
        assert found.keys() == expected.keys(), query
        for key, score in expected.items():
            assert found[key] == pytest.approx(score, rel=1e-6), (query, key)
        assert [m.id for m in index.search(query, 5, Filter())] == ranking(expected)[:5]


def recreate(store: VectorStore, collection: str) -> None:
    """Drop the collection and make it again with the same records."""
    held = list(store.scan(collection, vectors=True))
    store.drop_collection(collection)
    store.create_collection(collection, 2)
    store.upsert(collection, held)


def apply(store: VectorStore, collection: str, step: list[tuple[str, int, str]]) -> None:
    """Write one batch of operations to the store, as ingests and deletes would."""
    if any(operation == "recreate" for operation, _, _ in step):
        recreate(store, collection)
    ids = sorted(r.id for r in store.scan(collection))
    writes: dict[str, str] = {}
    deletes: set[str] = set()
    for operation, pick, text in step:
        if operation == "recreate":
            continue
        if operation == "add" or not ids:
            writes[uuid.uuid4().hex[:8]] = text
            continue
        chosen = ids[pick % len(ids)]
        if operation == "remove":
            deletes.add(chosen)
            writes.pop(chosen, None)
        elif operation == "replace":
            writes[chosen] = text
            deletes.discard(chosen)
        else:  # the same text under a new id, as when a document's version changes
            record = store.get(collection, [chosen])
            if record:
                writes[uuid.uuid4().hex[:8]] = str(record[0].metadata["text"])
    store.delete(collection, deletes)
    store.upsert(
        collection,
        [VectorRecord(i, [1.0, 0.5], {"text": t, "doc_id": i[:2]}) for i, t in writes.items()],
    )


def run_steps(
    store: VectorStore, collection: str, steps: list[Any], *, prunes: bool = False
) -> None:
    """Write each step, catch the index up and compare it with a fresh build; the index reads
    only what the step changed when the store has a change feed and the collection was not made
    again, every record otherwise. With ``prunes`` (a store keeping few deleted ids), the feed
    may also have pruned the deletions after the revision the index holds: then it reads every
    record too."""
    store.create_collection(collection, 2)
    index = KeywordIndex()
    index.refresh(store, collection)
    for step in steps:
        apply(store, collection, step)
        made_again = any(operation == "recreate" for operation, _, _ in step)
        assert index.generation is not None
        assert index.revision is not None
        feed = store.changes(collection, index.revision, generation=index.generation) is not None
        if not prunes:
            assert feed == (store.supports("changes") and not made_again)
        done = index.refresh(store, collection)
        if feed:
            assert done.read <= len(step)
        else:
            assert done.read == store.count(collection)
        assert_same_as_fresh(store, collection, index)
        assert_same_as_fresh(store, collection)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(OPERATIONS, min_size=1, max_size=6))
@pytest.mark.parametrize("mode", ["feed", "full-read", "feed-pruned"])
def test_random_writes_score_as_a_fresh_build(mode: str, steps: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        store: VectorStore
        if mode == "full-read":
            store = NoFeed(Path(folder))
        elif mode == "feed-pruned":  # few deleted ids kept: the feed often cannot tell
            store = EmbeddedVectorStore(Path(folder), keep_deleted=2)
        else:
            store = EmbeddedVectorStore(Path(folder))
        with store:
            run_steps(store, "docs", steps, prunes=mode == "feed-pruned")


@pytest.mark.postgres
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(OPERATIONS, min_size=1, max_size=4))
def test_random_writes_on_pgvector_score_as_a_fresh_build(
    postgres_server: Any, steps: list[Any]
) -> None:
    url = postgres_server.url.replace("postgresql://", "pgvector://")
    collection = f"kw_{uuid.uuid4().hex[:12]}"
    with connect(url) as store:
        try:
            run_steps(store, collection, steps)
        finally:
            store.drop_collection(collection)


def test_an_update_tokenizes_only_new_texts(tmp_path: Path) -> None:
    with connect(f"embedded://{tmp_path}") as store:
        store.create_collection("docs", 2)
        texts = {f"d1#a#{n}": f"restore drill number {n}" for n in range(50)}
        store.upsert("docs", [VectorRecord(i, [1, 0], {"text": t}) for i, t in texts.items()])
        index = KeywordIndex()
        assert index.refresh(store, "docs").tokenized == 50
        # a new version of the document: one chunk changed, 49 texts the same under new ids
        store.upsert(
            "docs",
            [
                VectorRecord(i.replace("#a#", "#b#"), [1, 0], {"text": t})
                for i, t in texts.items()
                if not i.endswith("#7")
            ]
            + [VectorRecord("d1#b#7", [1, 0], {"text": "restore drill changed"})],
        )
        store.delete("docs", list(texts))
        done = index.refresh(store, "docs")
        assert (done.added, done.removed, done.tokenized) == (50, 50, 1)
        assert index.refresh(store, "docs").added == 0  # same revision: nothing read
        assert_same_as_fresh(store, "docs")


def test_filters_apply_before_ranking_and_ties_rank_by_id(tmp_path: Path) -> None:
    with connect(f"embedded://{tmp_path}") as store:
        store.create_collection("docs", 2)
        store.upsert(
            "docs",
            [
                VectorRecord(f"c{n}", [1, 0], {"text": "restore drill", "team": n % 2})
                for n in range(9, 0, -1)
            ],
        )
        index = keyword_index(store, "docs")
        assert [m.id for m in index.search("restore", 3, Filter())] == ["c1", "c2", "c3"]
        odd = Filter.parse({"team": 1})
        assert [m.id for m in index.search("restore", 3, odd)] == ["c1", "c3", "c5"]
        assert index.search("the", 3, Filter()) == []


@pytest.fixture(params=["embedded", pytest.param("pgvector", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "embedded":
        return f"embedded://{tmp_path}"
    server = request.getfixturevalue("postgres_server")
    return str(server.url).replace("postgresql://", "pgvector://")


def test_re_ingests_past_the_kept_deletions_score_as_a_fresh_build(store_url: str) -> None:
    """Documents replaced again and again (new chunk ids, the old ones deleted) prune the
    deleted ids the store keeps: an index holding a revision from before a prune reads every
    record, one caught up after every write follows the feed; both score as a fresh build."""
    collection = f"kw_{uuid.uuid4().hex[:12]}"
    rng = np.random.default_rng(3)

    def chunks(doc: int, version: int) -> list[VectorRecord]:
        return [
            VectorRecord(
                f"d{doc}#v{version}#{n}", [1.0, 0.5], {"text": " ".join(rng.choice(WORDS, 6))}
            )
            for n in range(4)
        ]

    with connect(store_url, keep_deleted=8) as store:
        try:
            store.create_collection(collection, 2)
            held = {doc: chunks(doc, 0) for doc in range(3)}
            store.upsert(collection, [r for records in held.values() for r in records])
            behind, index = KeywordIndex(), KeywordIndex()
            behind.refresh(store, collection)
            index.refresh(store, collection)
            start = store.collection(collection)
            for round_ in range(1, 10):  # 4 deleted ids a round; 12 records keep at most 12
                doc = round_ % 3
                new = chunks(doc, round_)
                store.upsert(collection, new)
                store.delete(collection, [r.id for r in held[doc]])
                held[doc] = new
                assert index.refresh(store, collection).read == 8  # from the feed
                assert_same_as_fresh(store, collection, index)
            assert store.changes(collection, start.revision, generation=start.generation) is None
            assert behind.refresh(store, collection).read == store.count(collection) == 12
            assert_same_as_fresh(store, collection, behind)
        finally:
            store.drop_collection(collection)


def test_a_collection_made_again_to_the_same_revision_is_read_again(store_url: str) -> None:
    collection = f"kw_{uuid.uuid4().hex[:12]}"
    with connect(store_url) as store:
        try:
            store.create_collection(collection, 2)
            store.upsert(collection, [VectorRecord("old", [1, 0], {"text": "restore drill"})])
            index = keyword_index(store, collection)
            assert [m.id for m in index.search("restore", 5, Filter())] == ["old"]
            revision = store.collection(collection).revision
            store.drop_collection(collection)
            store.create_collection(collection, 2)
            store.upsert(collection, [VectorRecord("new", [1, 0], {"text": "escalate page"})])
            assert store.collection(collection).revision == revision
            index = keyword_index(store, collection)
            assert index.search("restore", 5, Filter()) == []
            assert [m.id for m in index.search("escalate", 5, Filter())] == ["new"]
            assert_same_as_fresh(store, collection)
        finally:
            store.drop_collection(collection)

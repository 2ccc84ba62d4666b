"""BM25 over a collection's chunk texts (``bm25s`` with Snowball English stemming).

The index is built from the vector store's records (each chunk keeps its text in metadata) and
held per process until the collection's revision changes, so any vector store gets keyword
search and both rankings see the same chunks. Filters apply to the scores before ranking.
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skybridge.backends.vectors import Filter, Match, VectorStore
from skybridge.core.errors import MissingDependency

_LOCK = threading.Lock()


def _libraries() -> tuple[Any, Any]:
    try:
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)
    except ImportError as exc:
        raise MissingDependency(exc.name or "bm25s", "rag", feature="keyword search") from exc
    return bm25s, Stemmer.Stemmer("english")


@dataclass
class KeywordIndex:
    """BM25 scores of one revision of a collection."""

    revision: int
    ids: list[str] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)
    retriever: Any = None

    @classmethod
    def build(cls, store: VectorStore, collection: str, revision: int) -> KeywordIndex:
        bm25s, stemmer = _libraries()
        index = cls(revision)
        for record in store.scan(collection, page_size=5000):
            index.ids.append(record.id)
            index.metadata.append(record.metadata)
        if index.ids:
            texts = [str(m.get("text", "")) for m in index.metadata]
            tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
            index.retriever = bm25s.BM25()
            index.retriever.index(tokens, show_progress=False)
        return index

    def search(self, query: str, k: int, flt: Filter) -> list[Match]:
        """The ``k`` best chunks for ``query`` among those matching ``flt`` (score > 0)."""
        if self.retriever is None:
            return []
        bm25s, stemmer = _libraries()
        tokens = bm25s.tokenize(
            [query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
        )[0]
        if not tokens:
            return []
        scores = np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)
        if flt:
            allowed = np.fromiter((flt.matches(m) for m in self.metadata), bool, len(self.ids))
            scores = np.where(allowed, scores, 0.0)
        count = min(k, int((scores > 0).sum()))
        if count == 0:
            return []
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [Match(self.ids[i], float(scores[i]), self.metadata[i]) for i in top]


_INDEXES: weakref.WeakKeyDictionary[VectorStore, dict[str, KeywordIndex]] = (
    weakref.WeakKeyDictionary()
)


def keyword_index(store: VectorStore, collection: str) -> KeywordIndex:
    """The BM25 index of ``collection`` at its current revision (built when it changed)."""
    revision = store.collection(collection).revision
    with _LOCK:
        held = _INDEXES.setdefault(store, {})
        found = held.get(collection)
        if found is None or found.revision != revision:
            found = held[collection] = KeywordIndex.build(store, collection, revision)
        return found

"""Retrieval: dense (vectors), keyword (BM25) and hybrid (weighted reciprocal rank fusion).

Each retriever proposes ``candidates`` chunks; hybrid scores a chunk
``dense_weight / (rrf_k + dense_rank) + bm25_weight / (rrf_k + bm25_rank)``. Chunks of a
document version that is no longer current (a replacement in progress, or one that failed
halfway) are dropped before the top ``k`` are taken, so readers never see two versions.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.rag.config import Mode
from skybridge.apps.rag.documents import DocumentRegistry
from skybridge.apps.rag.keyword import keyword_index
from skybridge.backends.vectors import Filter, Match, VectorStore
from skybridge.core.errors import ValidationError

RESERVED = frozenset({"doc_id", "doc_hash", "n", "text", "title", "section", "source"})


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its scores (``dense``/``bm25`` are ``None`` when that retriever
    did not propose it)."""

    chunk: str
    document: str
    text: str
    score: float
    dense: float | None = None
    bm25: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return str(self.metadata.get("title", ""))

    @property
    def source(self) -> str:
        return str(self.metadata.get("source", ""))

    def to_dict(self) -> dict[str, Any]:
        user = {k: v for k, v in self.metadata.items() if k not in RESERVED}
        return {
            "chunk": self.chunk,
            "document": self.document,
            "score": self.score,
            "dense": self.dense,
            "bm25": self.bm25,
            "title": self.title,
            "section": self.metadata.get("section", ""),
            "source": self.source,
            "text": self.text,
            "metadata": user,
        }


@dataclass(frozen=True)
class Retrieval:
    """Hits best first, with how long each step took."""

    hits: list[Hit]
    mode: Mode
    embed_seconds: float = 0.0
    search_seconds: float = 0.0


@dataclass
class Retriever:
    """Searches one collection of a vector store."""

    store: VectorStore
    collection: str
    registry: DocumentRegistry
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0

    def dense(self, vector: Any, k: int, flt: Filter) -> list[Match]:
        return self.store.query(self.collection, vector, k=k, flt=flt)

    def keyword(self, query: str, k: int, flt: Filter) -> list[Match]:
        return keyword_index(self.store, self.collection).search(query, k, flt)

    def search(
        self, query: str, vector: Any, *, mode: Mode, k: int, candidates: int, flt: Filter
    ) -> list[Hit]:
        """The ``k`` best live chunks for ``query`` (``vector``: its embedding, unused by bm25)."""
        pool = max(candidates, k)
        dense = self.dense(vector, pool, flt) if mode != "bm25" else []
        keyword = self.keyword(query, pool, flt) if mode != "dense" else []
        if mode == "dense":
            hits = [_hit(m, m.score, dense=m.score) for m in dense]
        elif mode == "bm25":
            hits = [_hit(m, m.score, bm25=m.score) for m in keyword]
        else:
            hits = self._fuse(dense, keyword)
        return self._live(hits)[:k]

    def _fuse(self, dense: list[Match], keyword: list[Match]) -> list[Hit]:
        scores: dict[str, float] = {}
        first: dict[str, Match] = {}
        dense_score = {m.id: m.score for m in dense}
        bm25_score = {m.id: m.score for m in keyword}
        for weight, ranking in ((self.dense_weight, dense), (self.bm25_weight, keyword)):
            for rank, match in enumerate(ranking, 1):
                scores[match.id] = scores.get(match.id, 0.0) + weight / (self.rrf_k + rank)
                first.setdefault(match.id, match)
        ordered = sorted(scores, key=lambda i: (-scores[i], i))
        return [
            _hit(first[i], scores[i], dense=dense_score.get(i), bm25=bm25_score.get(i))
            for i in ordered
        ]

    def _live(self, hits: list[Hit]) -> list[Hit]:
        current = self.registry.hashes(h.document for h in hits)
        return [h for h in hits if current.get(h.document) == h.metadata.get("doc_hash")]


def _hit(
    match: Match, score: float, *, dense: float | None = None, bm25: float | None = None
) -> Hit:
    meta = match.metadata
    return Hit(
        match.id, str(meta.get("doc_id", "")), str(meta.get("text", "")), score, dense, bm25, meta
    )


def parse_filter(spec: Mapping[str, Any] | None) -> Filter:
    """A user's filter; the chunk's own fields (text, hash...) cannot be filtered on except
    ``doc_id``, ``title``, ``section`` and ``source``."""
    flt = Filter.parse(spec)
    for condition in flt.conditions:
        if condition.field in {"text", "doc_hash", "n"}:
            raise ValidationError(
                f"cannot filter on {condition.field!r}",
                hint="filter on doc_id, title, section, source or your fields",
            )
    return flt


def timed(start: float) -> float:
    return time.perf_counter() - start

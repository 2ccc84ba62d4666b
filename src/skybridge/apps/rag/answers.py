"""The Python API for questions: :func:`query` (chunks) and :func:`ask` (a cited answer).

Both refuse to search an index built with another embedding model, apply metadata filters
in the stores, drop chunks of superseded document versions, and record latency, the top
similarity and the rolling retrieval score (with an alert when it falls below baseline). With
``backends.retrieval`` set, the passages come from that knowledge base instead (see
:mod:`.service`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skybridge.apps.rag.config import Mode, checked_k, checked_mode
from skybridge.apps.rag.monitoring import (
    EMBED_LATENCY,
    END_TO_END,
    RETRIEVAL_LATENCY,
    check_rolling,
    record_similarity,
)
from skybridge.apps.rag.retrieval import Hit, Retrieval, parse_filter
from skybridge.apps.rag.service import Rag
from skybridge.backends.llm import Answer, Passage
from skybridge.backends.retrieval import KnowledgeBase, Retrieved
from skybridge.backends.vectors import Filter
from skybridge.core.errors import NotFound, ValidationError

MAX_QUERY_CHARS = 4000


@dataclass(frozen=True)
class AskResult:
    """An answer and the chunks it was given."""

    answer: Answer
    retrieval: Retrieval
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.answer.to_dict(),
            "mode": self.retrieval.mode,
            "chunks": [h.to_dict() for h in self.retrieval.hits],
            "seconds": round(self.seconds, 4),
        }


def query(
    rag: Rag,
    text: str,
    *,
    k: int | None = None,
    mode: Mode | None = None,
    filters: Mapping[str, Any] | None = None,
    record: bool = True,
) -> Retrieval:
    """The best chunks for ``text``.

    Args:
        rag: The engine.
        text: The query.
        k: Chunks to return, a whole number from 1 to 100 (default ``rag.top_k``).
        mode: ``hybrid``, ``dense`` or ``bm25`` (default ``rag.mode``).
        filters: A metadata filter, e.g. ``{"team": "ops", "year": {"gte": 2024}}``.
        record: Record latency and similarity metrics (and the rolling score).

    Raises:
        ValidationError: an empty or too long query, an unknown ``mode``, a ``k`` that is not
            a whole number from 1 to 100, or a bad filter (all before anything is embedded).
        NotFound: nothing has been indexed yet.
        ConfigError: the index was built with another embedding model.
    """
    start = time.perf_counter()
    chosen = rag.config.mode if mode is None else checked_mode(mode)
    size = rag.config.top_k if k is None else checked_k(k)
    question = _checked(text)
    flt = parse_filter(filters)
    knowledge_base = rag.knowledge_base()
    if knowledge_base is not None:
        return _from_knowledge_base(rag, knowledge_base, question, size, chosen, flt, start, record)
    # BM25 compares no vectors: it neither loads the embedding model nor needs its fingerprint.
    indexed = rag.describe() if chosen == "bm25" else rag.check_model()
    if indexed is None:
        raise NotFound(
            f"nothing is indexed in collection {rag.collection!r} yet",
            hint="run: skybridge rag ingest SOURCE",
        )
    vector = None
    embedded = time.perf_counter()
    if chosen != "bm25":
        vector = rag.embedder.embed_query(question)
    embed_seconds = time.perf_counter() - embedded
    hits = rag.retriever().search(
        question, vector, mode=chosen, k=size, candidates=rag.config.candidates, flt=flt
    )
    search_seconds = time.perf_counter() - embedded - embed_seconds
    if record:
        _record(rag, chosen, hits, embed_seconds, search_seconds, time.perf_counter() - start)
    return Retrieval(hits, chosen, embed_seconds, search_seconds)


def ask(
    rag: Rag,
    text: str,
    *,
    k: int | None = None,
    mode: Mode | None = None,
    filters: Mapping[str, Any] | None = None,
    record: bool = True,
) -> AskResult:
    """A cited answer to ``text`` from the best chunks (see :func:`query` for errors)."""
    start = time.perf_counter()
    retrieval = query(rag, text, k=k, mode=mode, filters=filters, record=record)
    hits = retrieval.hits if any_relevant(retrieval.hits, rag.config.answer_min_similarity) else []
    passages = [passage(n, hit) for n, hit in enumerate(hits, 1)]
    answer = rag.llm.answer(_checked(text), passages)
    seconds = time.perf_counter() - start
    END_TO_END.labels(rag.collection, "ask").observe(seconds)
    return AskResult(answer, retrieval, seconds)


def any_relevant(hits: list[Hit], min_similarity: float) -> bool:
    """Whether any hit bears on the question: it shares a word with it (a BM25 score) or its
    embedding is at least ``min_similarity`` similar. A hit scored by neither (a knowledge
    base ranks by its own scores) counts as relevant, as does every hit when
    ``min_similarity`` is 0."""
    if min_similarity <= 0:
        return bool(hits)
    return any(
        (h.bm25 is not None and h.bm25 > 0)
        or (h.dense is not None and h.dense >= min_similarity)
        or (h.bm25 is None and h.dense is None)
        for h in hits
    )


def _from_knowledge_base(
    rag: Rag,
    kb: KnowledgeBase,
    question: str,
    k: int,
    mode: Mode,
    flt: Filter,
    start: float,
    record: bool,
) -> Retrieval:
    """The best passages of a managed knowledge base: it embeds, searches and ranks (hybrid:
    keyword and vector fused on its side; dense: its semantic search); filters are pushed
    down. Its scores are its own, so they are not mixed into the rolling similarity score."""
    if mode == "bm25":
        raise ValidationError(
            "a knowledge base searches in hybrid or dense mode, not bm25",
            hint="use --mode hybrid or --mode dense (or unset backends.retrieval)",
        )
    searched = time.perf_counter()
    found = kb.retrieve(question, k=k, flt=flt, search="hybrid" if mode == "hybrid" else "semantic")
    hits = [
        Hit(
            chunk=p.id,
            document=p.document,
            text=p.text,
            score=p.score,
            metadata={**p.metadata, "source": p.source, "title": _title(p)},
        )
        for p in found
    ]
    search_seconds = time.perf_counter() - searched
    if record:
        RETRIEVAL_LATENCY.labels(rag.collection, mode).observe(search_seconds)
        END_TO_END.labels(rag.collection, "query").observe(time.perf_counter() - start)
    return Retrieval(hits, mode, 0.0, search_seconds)


def _title(found: Retrieved) -> str:
    """A knowledge base passage's title: its metadata's, else its document's file name."""
    return str(found.metadata.get("title") or found.document.rstrip("/").rsplit("/", 1)[-1])


def passage(n: int, hit: Hit) -> Passage:
    """The ``n``-th passage handed to the answer model."""
    section = str(hit.metadata.get("section") or "")
    title = (
        section
        if section.startswith(hit.title)
        else " > ".join(p for p in (hit.title, section) if p)
    )
    return Passage(n, hit.text, hit.document, hit.chunk, round(hit.score, 6), hit.source, title)


def _checked(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("the question is empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValidationError(f"the question is longer than {MAX_QUERY_CHARS} characters")
    return text.strip()


def _record(
    rag: Rag, mode: Mode, hits: list[Hit], embed: float, search: float, total: float
) -> None:
    c = rag.collection
    EMBED_LATENCY.labels(c).observe(embed)
    RETRIEVAL_LATENCY.labels(c, mode).observe(search)
    END_TO_END.labels(c, "query").observe(total)
    top = max((h.dense for h in hits if h.dense is not None), default=None)
    if top is None:
        return
    window = rag.config.rolling_window
    scores = record_similarity(rag.kv, c, top, window)
    check_rolling(rag.kv, rag.notifier, c, scores, window, rag.config.alert_margin)

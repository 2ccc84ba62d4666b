"""``skybridge rag eval``: nDCG@10, Recall@10, Recall@100 and MRR@10 per retrieval mode.

Chunks are retrieved and folded into a document ranking (a document ranks where its best chunk
does). The first evaluation of a collection is stored as its baseline (``set_baseline``
replaces it); later ones are compared with it, and a mode whose nDCG@10 fell by more than
``alert_margin`` is a regression: an alert goes to the notify backend and the CLI exits 1.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skybridge.apps.rag.config import MODES, Mode, checked_mode
from skybridge.apps.rag.datasets import QuerySet
from skybridge.apps.rag.ingest import Ingestion
from skybridge.apps.rag.monitoring import EVAL_QUERY_NDCG, EVAL_SCORE, alert, baseline_key
from skybridge.apps.rag.parsing import ParsedDocument, Section
from skybridge.apps.rag.service import Rag
from skybridge.backends.vectors import Filter

#: Chunks retrieved per query, enough for a ranking of 100 documents.
CHUNK_DEPTH = 300
Progress = Callable[[str, int, int], None]


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (trec_eval's definition)."""
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, d in enumerate(ranked[:k]):
        if relevant.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def scores_of(ranked: list[str], relevant: dict[str, int]) -> dict[str, float]:
    return {
        "ndcg@10": ndcg_at(ranked, relevant),
        "recall@10": recall_at(ranked, relevant, 10),
        "recall@100": recall_at(ranked, relevant, 100),
        "mrr@10": mrr_at(ranked, relevant),
    }


@dataclass
class EvalReport:
    """Scores per mode (means over the judged queries), and what was compared."""

    dataset: str
    collection: str
    queries: int
    modes: dict[str, dict[str, float]] = field(default_factory=dict)
    similarity: float | None = None
    baseline: dict[str, Any] | None = None
    regressions: list[dict[str, Any]] = field(default_factory=list)
    worst: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "collection": self.collection,
            "queries": self.queries,
            **self.modes,
            "similarity": self.similarity,
            "baseline": self.baseline,
            "regressions": self.regressions,
            "worst": self.worst,
            "seconds": self.seconds,
        }


def eval_collection(dataset: QuerySet) -> str:
    """The collection a self-contained query set is indexed into."""
    slug = re.sub(r"[^a-z0-9_]+", "_", dataset.name.lower()).strip("_")[:30] or "set"
    return f"eval_{slug}" if slug[0].isalpha() else f"eval_x{slug}"


def index_corpus(rag: Rag, dataset: QuerySet, progress: Progress | None = None) -> int:
    """Index the set's corpus (title and text of each document); unchanged documents are kept."""
    assert dataset.corpus is not None
    rag.index_for_writing()
    run = Ingestion(rag, f"beir:{dataset.name}", {})
    total = len(dataset.corpus)
    for done, (doc_id, (title, text)) in enumerate(dataset.corpus.items(), 1):
        body = f"{title}\n\n{text}".strip() if title else text.strip()
        digest = run.version(body.encode())
        previous = rag.documents.get(doc_id)
        if previous is None or previous.hash != digest:
            run.queue(
                doc_id, ParsedDocument(title or doc_id, [Section((), body)]), digest, "", previous
            )
        if progress is not None and (done % 200 == 0 or done == total):
            progress("index", done, total)
    run.flush()
    rag.vectors.flush()
    return run.report.chunks


def rank_documents(
    rag: Rag, dataset: QuerySet, mode: Mode, vectors: np.ndarray, ids: list[str]
) -> dict[str, list[str]]:
    """Document rankings per query id."""
    retriever = rag.retriever()
    rankings: dict[str, list[str]] = {}
    for n, qid in enumerate(ids):
        hits = retriever.search(
            dataset.queries[qid],
            vectors[n],
            mode=mode,
            k=CHUNK_DEPTH,
            candidates=CHUNK_DEPTH,
            flt=Filter(),
        )
        rankings[qid] = list(dict.fromkeys(h.document for h in hits))
    return rankings


def evaluate(
    rag: Rag,
    dataset: QuerySet,
    *,
    modes: tuple[Mode, ...] = MODES,
    set_baseline: bool = False,
    progress: Progress | None = None,
) -> EvalReport:
    """Evaluate retrieval on ``dataset`` (indexing its corpus first when it has one)."""
    start = time.perf_counter()
    modes = tuple(checked_mode(m) for m in modes)  # before indexing, and never as a label
    target = rag.with_collection(eval_collection(dataset)) if dataset.corpus else rag
    if dataset.corpus:
        index_corpus(target, dataset, progress)
    target.check_model()
    ids = dataset.judged
    vectors = target.embedder.embed([dataset.queries[q] for q in ids], kind="query")
    report = EvalReport(dataset.name, target.collection, len(ids))
    for mode in modes:
        rankings = rank_documents(target, dataset, mode, vectors, ids)
        per_query = {q: scores_of(rankings[q], dataset.qrels[q]) for q in ids}
        for scores in per_query.values():
            EVAL_QUERY_NDCG.labels(target.collection, mode).observe(scores["ndcg@10"])
        report.modes[mode] = {
            m: round(float(np.mean([s[m] for s in per_query.values()])), 4)
            for m in ("ndcg@10", "recall@10", "recall@100", "mrr@10")
        }
        report.worst[mode] = _worst(dataset, per_query)
        for metric, value in report.modes[mode].items():
            EVAL_SCORE.labels(target.collection, mode, metric).set(value)
        if progress is not None:
            progress(mode, len(modes), len(modes))
    report.similarity = _mean_top_similarity(target, vectors)
    _compare(rag, target.collection, report, set_baseline)
    report.seconds = round(time.perf_counter() - start, 2)
    return report


def _worst(dataset: QuerySet, per_query: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    worst = sorted(per_query, key=lambda q: (per_query[q]["ndcg@10"], q))[:5]
    return [
        {"query": q, "text": dataset.queries[q][:120], "ndcg@10": round(per_query[q]["ndcg@10"], 4)}
        for q in worst
    ]


def _mean_top_similarity(rag: Rag, vectors: np.ndarray) -> float | None:
    tops = [m[0].score for v in vectors if (m := rag.vectors.query(rag.collection, v, k=1))]
    return round(float(np.mean(tops)), 4) if tops else None


def _compare(rag: Rag, collection: str, report: EvalReport, set_baseline: bool) -> None:
    key = baseline_key(collection)
    stored = rag.kv.get_json(key)
    if stored is None or set_baseline:
        rag.kv.put_json(
            key,
            {
                "dataset": report.dataset,
                "at": time.time(),
                "modes": report.modes,
                "similarity": report.similarity,
            },
        )
        report.baseline = None
        return
    report.baseline = stored
    margin = rag.config.alert_margin
    for mode, scores in report.modes.items():
        before = stored.get("modes", {}).get(mode, {}).get("ndcg@10")
        if before is not None and scores["ndcg@10"] < before - margin:
            report.regressions.append(
                {
                    "kind": "eval",
                    "mode": mode,
                    "ndcg@10": scores["ndcg@10"],
                    "baseline": before,
                    "margin": margin,
                }
            )
    if report.regressions:
        worst = min(report.regressions, key=lambda r: r["ndcg@10"] - r["baseline"])
        alert(rag.notifier(), collection, "evaluation fell below its baseline", worst)

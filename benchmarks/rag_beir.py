"""RAG retrieval on SciFact (BEIR layout, train claims): BM25, dense and hybrid in one run,
query latency at 100k chunks, and ingest overhead over the raw model.

Claims (``ratio`` higher is better for us):
  rag_hybrid_ndcg10        hybrid nDCG@10 >= max(BM25, dense) + 0.02, all three measured here
                           (anchor = the better single retriever; ratio = ours - anchor, goal 0.02)
  rag_query_p50_ms_100k    p50 of a hybrid query (query embedding, vector and BM25 search,
                           fusion, live-version check, metrics and the rolling score; no answer
                           model) on the embedded store
                           holding 100k chunks (the SciFact sentences of benchmarks/vectors.py),
                           against the 50 ms budget (ratio = 50 / ours, goal 1.0)
  rag_ingest_overhead      ingest of N SciFact abstracts (read, parse, chunk, embed, write,
                           registry) vs the model's encode of the same chunk texts alone, best
                           of 2 interleaved rounds each (ratio = encode / ingest, goal 1/1.1)

The SciFact index and the embedding cache live under the benchmark cache (``_scifact.py``), so
only the first run pays for encoding the corpus (tens of minutes on 2 shared cores).

Run: .venv/bin/python benchmarks/rag_beir.py [--only ndcg|latency|ingest] [--ingest-docs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _scifact import CACHE, SCIFACT, claims, corpus, encode_cached, sentence_texts

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.rag.answers import query
from skybridge.apps.rag.chunking import chunk_document
from skybridge.apps.rag.datasets import load_query_set
from skybridge.apps.rag.documents import DocumentEntry
from skybridge.apps.rag.evaluation import evaluate
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.parsing import ParsedDocument, Section
from skybridge.apps.rag.service import FINGERPRINT, Rag, open_rag
from skybridge.backends.vectors import VectorRecord


def context(home: Path, collection: str = "docs") -> AppContext[Any]:
    os.chdir(home)
    os.environ["SKYBRIDGE__RAG__COLLECTION"] = collection
    spec = find_app(discover_apps(), "rag")
    return AppContext.create(spec, load_settings([spec]))


def line(claim: str, ours: float, anchor: float, ratio: float, goal: float) -> None:
    verdict = "PASS" if ratio >= goal else "FAIL"
    print(
        f"{claim}: ours={ours:.4g} anchor={anchor:.4g} ratio={ratio:.4f} goal={goal:.4g} {verdict}",
        flush=True,
    )


def ndcg() -> None:
    home = CACHE / "rag-beir"
    home.mkdir(parents=True, exist_ok=True)
    dataset = load_query_set(SCIFACT)
    with open_rag(context(home)) as rag:
        start = time.perf_counter()
        report = evaluate(rag, dataset, set_baseline=True)
    print(
        f"# SciFact train: {report.queries} judged claims, corpus {len(dataset.corpus or {})} "
        f"abstracts, eval {time.perf_counter() - start:.0f} s (qrels {dataset.qrels_file})"
    )
    for mode, scores in report.modes.items():
        print(f"# {mode}: " + " ".join(f"{k}={v:.4f}" for k, v in scores.items()))
    best = max(report.modes["bm25"]["ndcg@10"], report.modes["dense"]["ndcg@10"])
    hybrid = report.modes["hybrid"]["ndcg@10"]
    line("rag_hybrid_ndcg10", hybrid, best, hybrid - best, 0.02)


def fill_latency_index(rag: Rag, texts: list[str], vectors: np.ndarray) -> None:
    info = rag.describe()
    if info is not None and info.count == len(texts):
        return
    rag.vectors.drop_collection(rag.collection)
    rag.documents.clear()
    rag.vectors.create_collection(
        rag.collection, vectors.shape[1], properties={FINGERPRINT: rag.embedder.fingerprint}
    )
    entries = {
        f"{rag.documents.prefix}s{i}": DocumentEntry(f"s{i}", "h", "scifact", "", 1).to_dict()
        for i in range(len(texts))
    }
    rag.kv.put_many({k: json.dumps(v).encode() for k, v in entries.items()})
    rag.vectors.upsert(
        rag.collection,
        (
            VectorRecord(
                f"s{i}#0",
                vectors[i],
                {
                    "doc_id": f"s{i}",
                    "doc_hash": "h",
                    "n": 0,
                    "text": t,
                    "title": "",
                    "section": "",
                    "source": "scifact",
                },
            )
            for i, t in enumerate(texts)
        ),
    )


def latency(count: int, queries: int) -> None:
    home = CACHE / "rag-latency"
    home.mkdir(parents=True, exist_ok=True)
    texts = sentence_texts(count)
    vectors = encode_cached("scifact-sentences", texts, batch_size=128)
    questions = claims()[:queries]
    with open_rag(context(home, "latency")) as rag:
        fill_latency_index(rag, texts, vectors)
        for q in questions[:5]:
            query(rag, q, record=False)  # loads vectors, builds the graph and the BM25 index
        times = []
        for q in questions:
            start = time.perf_counter()
            hits = query(rag, q, mode="hybrid", k=10).hits
            times.append(time.perf_counter() - start)
            assert len(hits) == 10
    p50 = float(np.median(times)) * 1000
    print(
        f"# {count} chunks, {len(times)} hybrid queries: p50 {p50:.1f} ms, p95 "
        f"{np.percentile(times, 95) * 1000:.1f} ms"
    )
    size = f"{count // 1000}k" if count % 1000 == 0 else str(count)
    line(f"rag_query_p50_ms_{size}", p50, 50.0, 50.0 / p50, 1.0)


def ingest_overhead(docs: int) -> None:
    sample = corpus()[:docs]
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "abstracts"
        source.mkdir()
        for doc in sample:
            (source / f"{doc['_id']}.txt").write_text(f"{doc['title']}\n\n{doc['text']}")
        raw, full = [], []
        for round_ in range(2):
            home = Path(folder) / f"run{round_}"
            home.mkdir()
            with open_rag(context(home)) as rag:
                c = rag.config
                texts = [
                    ch.text
                    for doc in sample
                    for ch in chunk_document(
                        ParsedDocument("", [Section((), f"{doc['title']}\n\n{doc['text']}")]),
                        rag.embedder,
                        size=c.chunk_tokens,
                        overlap=c.chunk_overlap,
                    )
                ]
                start = time.perf_counter()
                rag.embedder.embed(texts)
                raw.append(time.perf_counter() - start)
                start = time.perf_counter()
                report = ingest(rag, str(source))
                full.append(time.perf_counter() - start)
                assert report.cached_vectors == 0
                assert report.chunks == len(texts)
    encode, total = min(raw), min(full)
    print(f"# {docs} abstracts, {len(texts)} chunks: encode {encode:.1f} s, ingest {total:.1f} s")
    line("rag_ingest_overhead", total, encode, encode / total, 1 / 1.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["ndcg", "latency", "ingest"])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest-docs", type=int, default=300)
    args = parser.parse_args()
    if args.only in (None, "ndcg"):
        ndcg()
    if args.only in (None, "latency"):
        latency(args.count, args.queries)
    if args.only in (None, "ingest"):
        ingest_overhead(args.ingest_docs)


if __name__ == "__main__":
    main()

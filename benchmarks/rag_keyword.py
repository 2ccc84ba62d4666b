"""BM25 after a change: the index kept up to date vs a from-scratch bm25s build, same rankings.

Event-driven ingestion changes one document at a time and queries follow. Each round here
replaces one document of a collection of SciFact abstract chunks (new chunk ids with one text
changed, the old chunks deleted, as ``rag ingest`` writes them) and runs one BM25 query:

  rag_bm25_update_<n>   seconds from the change to the query's answer, held index (it reads what
                        changed from the store's change feed, tokenizes only new texts and
                        updates the statistics) vs a
                        fresh ``bm25s`` index of the same records (scan, tokenize, index, score,
                        as every revision cost before); ratio = anchor / ours, goal 5. Both
                        answers must rank the same chunks with the same scores.

Chunks are 150-word windows (every 100 words) of the SciFact abstracts in
``../shared/data/scifact-train`` and, past its 11k windows, new windows every 50 (then 30)
words; vectors are random (BM25 does not read them). The store is the embedded one (SQLite).

Run: .venv/bin/python benchmarks/rag_keyword.py [--sizes 6300 20000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _scifact import SCIFACT, claims

from skybridge.apps.rag.keyword import keyword_index
from skybridge.backends.vectors import Filter, VectorRecord, VectorStore, connect

PER_DOC = 3


def windows(count: int) -> list[str]:
    texts: list[str] = []
    with (SCIFACT / "corpus.jsonl").open() as handle:
        docs = [json.loads(line) for line in handle if line.strip()]
    for step in (100, 50, 30):
        for doc in docs:
            words = f"{doc['title']}. {doc['text']}".split()
            texts += [" ".join(words[i : i + 150]) for i in range(0, max(1, len(words) - 50), step)]
        texts = list(dict.fromkeys(texts))  # distinct texts: a changed chunk is new text
        if len(texts) >= count:
            break
    return texts[:count]


def records(texts: list[str], doc: int, version: str) -> list[VectorRecord]:
    rng = np.random.default_rng(doc)
    return [
        VectorRecord(
            f"d{doc}#{version}#{n}",
            rng.standard_normal(8).astype(np.float32),
            {"doc_id": f"d{doc}", "doc_hash": version, "n": n, "text": text},
        )
        for n, text in enumerate(texts)
    ]


def fresh_answer(store: VectorStore, query: str, k: int) -> list[tuple[str, float]]:
    """A from-scratch bm25s index of the collection, then the query (what each revision cost)."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    found = list(store.scan("docs", page_size=5000))
    tokens = bm25s.tokenize(
        [str(r.metadata["text"]) for r in found],
        stopwords="en",
        stemmer=stemmer,
        show_progress=False,
    )
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    terms = bm25s.tokenize(
        [query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
    )[0]
    scores = np.asarray(retriever.get_scores(terms), dtype=np.float32)
    order = sorted(np.flatnonzero(scores > 0), key=lambda i: (-scores[i], found[i].id))[:k]
    return [(found[i].id, float(scores[i])) for i in order]


def line(claim: str, ours: float, anchor: float, ratio: float, goal: float) -> None:
    verdict = "PASS" if ratio >= goal else "FAIL"
    print(
        f"{claim}: ours={ours:.4g} anchor={anchor:.4g} ratio={ratio:.4f} goal={goal:.4g} {verdict}",
        flush=True,
    )


def measure(size: int, rounds: int, questions: list[str]) -> None:
    texts = windows(size + rounds)
    spare = texts[size:]
    with tempfile.TemporaryDirectory() as folder, connect(f"embedded://{folder}") as store:
        store.create_collection("docs", 8)
        docs = [texts[i : i + PER_DOC] for i in range(0, size, PER_DOC)]
        for doc, chunk_texts in enumerate(docs):
            store.upsert("docs", records(chunk_texts, doc, "v0"))
        start = time.perf_counter()
        keyword_index(store, "docs")
        first = time.perf_counter() - start
        ours, anchor = [], []
        for round_ in range(rounds):
            doc = (round_ * 7919) % len(docs)
            changed = [spare[round_], *docs[doc][1:]]
            store.upsert("docs", records(changed, doc, f"v{round_ + 1}"))
            store.delete("docs", [r.id for r in records(docs[doc], doc, f"v{round_}")])
            docs[doc] = changed
            question = questions[round_ % len(questions)]
            start = time.perf_counter()
            hits = keyword_index(store, "docs").search(question, 10, Filter())
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            expected = fresh_answer(store, question, 10)
            anchor.append(time.perf_counter() - start)
            assert [m.id for m in hits] == [i for i, _ in expected], question
            assert np.allclose([m.score for m in hits], [s for _, s in expected], rtol=1e-6)
    median_ours, median_anchor = float(np.median(ours)), float(np.median(anchor))
    print(
        f"# {size} chunks: first build {first:.2f} s; after a change, median of {rounds}: "
        f"held {median_ours * 1000:.1f} ms, fresh {median_anchor * 1000:.0f} ms; rankings equal"
    )
    line(f"rag_bm25_update_{size}", median_ours, median_anchor, median_anchor / median_ours, 5.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[6300, 20000])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    questions = claims()[:50]
    for size in args.sizes:
        measure(size, args.rounds, questions)


if __name__ == "__main__":
    main()

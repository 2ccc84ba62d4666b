"""Vector search: the embedded store vs ChromaDB, unfiltered and with a 1% metadata filter.

Data: ~100k texts of the SciFact corpus (sentences and runs of sentences) encoded by the
default model (all-MiniLM-L6-v2, 384-d), cached on the first run (see ``_scifact.py``);
queries: SciFact claims encoded by the same model. Every vector carries ``bucket = i % 100``;
the filtered queries ask for ``bucket == 7`` (1%). Both stores run at their defaults: ours is
``embedded://`` (HNSW via usearch past 20k records, exact search over a filter's matches when
they are few), ChromaDB 1.5.9 a PersistentClient collection (cosine) fed precomputed
embeddings, run as a subprocess with the anchors venv (``make bench`` builds it). Recall@10 is
measured for both against exact search (numpy) over the same vectors; filtered queries must
return 10 results that all match.

Claims (``ratio`` higher is better for us):
  vectors_unfiltered_p50_ms   ours <= ChromaDB            (ratio = anchor / ours, goal 1.0)
  vectors_filtered_p50_ms     ours >= 5x faster            (ratio = anchor / ours, goal 5.0)
  vectors_recall10_*          ours >= 0.95 (absolute)      (ratio = ours / anchor)
  vectors_filtered_full_k     every filtered query gives 10 (ratio = ours / anchor, goal 1.0)

Run: .venv/bin/python benchmarks/vectors.py [--count 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _scifact import CACHE, ROOT, claims, encode_cached, sentence_texts

from skybridge.backends.vectors import VectorRecord, connect

ANCHOR_PYTHON = ROOT / ".venv-anchors/bin/python"
BUCKET = 7


def exact(vectors: np.ndarray, query: np.ndarray, k: int, rows: np.ndarray) -> set[int]:
    scores = vectors[rows] @ query
    return {int(rows[i]) for i in np.argsort(-scores)[:k]}


def ours(vectors: np.ndarray, queries: np.ndarray) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder, connect(f"embedded://{folder}") as store:
        start = time.perf_counter()
        store.create_collection("bench", vectors.shape[1])
        store.upsert(
            "bench", (VectorRecord(str(i), v, {"bucket": i % 100}) for i, v in enumerate(vectors))
        )
        store.query("bench", queries[0], k=10)  # builds the HNSW graph
        out: dict[str, object] = {"build_seconds": time.perf_counter() - start}
        for name, flt in (("unfiltered", None), ("filtered", {"bucket": BUCKET})):
            found, times = [], []
            for q in queries:
                t = time.perf_counter()
                matches = store.query("bench", q, k=10, flt=flt)
                times.append(time.perf_counter() - t)
                found.append([int(m.id) for m in matches])
            out[name] = {"seconds": times, "ids": found}
    return out


def chroma(vectors: np.ndarray, queries: np.ndarray) -> dict[str, object]:
    if not ANCHOR_PYTHON.exists():
        raise SystemExit(
            "no anchors venv: run `make bench` (or make .venv-anchors/.installed-stamp)"
        )
    with tempfile.TemporaryDirectory() as folder:
        vpath, qpath = Path(folder) / "v.npy", Path(folder) / "q.npy"
        np.save(vpath, vectors)
        np.save(qpath, queries)
        result = subprocess.run(
            [
                str(ANCHOR_PYTHON),
                str(Path(__file__).parent / "anchors/chroma_vectors.py"),
                str(vpath),
                str(qpath),
                str(BUCKET),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def recall(found: list[list[int]], truth: list[set[int]]) -> float:
    return float(np.mean([len(set(f) & t) / len(t) for f, t in zip(found, truth, strict=True)]))


def p50_ms(run: dict[str, object], name: str) -> float:
    return float(np.median(run[name]["seconds"])) * 1000  # type: ignore[index]


def line(
    claim: str, ours_v: float, anchor: float, ratio: float, goal: float, passed: bool | None = None
) -> None:
    verdict = "PASS" if (ratio >= goal if passed is None else passed) else "FAIL"
    print(f"{claim}: ours={ours_v:.4g} anchor={anchor:.4g} ratio={ratio:.3f} goal={goal} {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    vectors = encode_cached("scifact-sentences", sentence_texts(args.count), batch_size=128)
    queries = encode_cached("scifact-claims", claims())[: args.queries]
    print(f"# {len(vectors)} x {vectors.shape[1]} vectors, {len(queries)} queries, cache {CACHE}")
    rows_all = np.arange(len(vectors))
    rows_rare = rows_all[rows_all % 100 == BUCKET]
    truth = {
        "unfiltered": [exact(vectors, q, 10, rows_all) for q in queries],
        "filtered": [exact(vectors, q, 10, rows_rare) for q in queries],
    }
    mine, theirs = ours(vectors, queries), chroma(vectors, queries)
    built = (mine["build_seconds"], theirs["build_seconds"])
    print(f"# build: ours {built[0]:.1f} s (insert + HNSW), ChromaDB {built[1]:.1f} s")
    for name in ("unfiltered", "filtered"):
        for label, run in (("ours", mine), ("chroma", theirs)):
            ids = run[name]["ids"]  # type: ignore[index]
            assert all(len(r) == 10 for r in ids) or name == "unfiltered", f"{label} {name} short"
            if name == "filtered":
                assert all(i % 100 == BUCKET for r in ids for i in r), f"{label} broke the filter"
        r_ours, r_anchor = (
            recall(mine[name]["ids"], truth[name]),
            recall(theirs[name]["ids"], truth[name]),
        )  # type: ignore[index]
        agree = recall(mine[name]["ids"], [set(r) for r in theirs[name]["ids"]])  # type: ignore[index]
        print(f"# {name}: ours and ChromaDB share {agree:.3f} of their top-10")
        o, a = p50_ms(mine, name), p50_ms(theirs, name)
        line(f"vectors_{name}_p50_ms", o, a, a / o, 1.0 if name == "unfiltered" else 5.0)
        line(f"vectors_recall10_{name}", r_ours, r_anchor, r_ours / r_anchor, 0.95, r_ours >= 0.95)
    full = float(np.mean([len(r) == 10 for r in mine["filtered"]["ids"]]))  # type: ignore[index]
    full_a = float(np.mean([len(r) == 10 for r in theirs["filtered"]["ids"]]))  # type: ignore[index]
    line("vectors_filtered_full_k", full, full_a, full / full_a, 1.0)


if __name__ == "__main__":
    main()

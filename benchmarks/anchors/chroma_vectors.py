"""ChromaDB side of benchmarks/vectors.py; run with the anchors venv's interpreter.

Reads the vectors (``.npy``), the query vectors and the filter bucket per vector, builds a
PersistentClient collection at ChromaDB's defaults (cosine space, precomputed embeddings, no
telemetry; ``query_texts`` is never used: it would download a model), times top-10 queries
unfiltered and with the 1% filter, and prints one JSON object: timings and the ids returned.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time

import numpy as np


def main() -> None:
    vectors_path, queries_path, bucket = sys.argv[1], sys.argv[2], int(sys.argv[3])
    import chromadb
    from chromadb.config import Settings

    vectors = np.load(vectors_path)
    queries = np.load(queries_path)
    with tempfile.TemporaryDirectory() as folder:
        client = chromadb.PersistentClient(
            path=folder, settings=Settings(anonymized_telemetry=False)
        )
        collection = client.create_collection("bench", metadata={"hnsw:space": "cosine"})
        start = time.perf_counter()
        for s in range(0, len(vectors), 5000):
            part = vectors[s : s + 5000]
            ids = [str(i) for i in range(s, s + len(part))]
            metas = [{"bucket": i % 100} for i in range(s, s + len(part))]
            collection.add(ids=ids, embeddings=part.tolist(), metadatas=metas)
        build = time.perf_counter() - start
        out = {"build_seconds": build}
        for name, where in (("unfiltered", None), ("filtered", {"bucket": bucket})):
            found, times = [], []
            for q in queries:
                t = time.perf_counter()
                result = collection.query(query_embeddings=[q.tolist()], n_results=10, where=where)
                times.append(time.perf_counter() - t)
                found.append([int(i) for i in result["ids"][0]])
            out[name] = {"seconds": times, "ids": found}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

"""SciFact texts and their embeddings by the default model, cached outside the repository.

The data is read from ``../shared/data/scifact-train`` (``SKYBRIDGE_SCIFACT`` overrides it);
embeddings are cached under ``~/.cache/skybridge/benchmarks`` (``SKYBRIDGE_BENCH_CACHE``), as
encoding ~100k texts takes minutes on 2 cores. Texts: the corpus split into sentences, then
runs of two and three consecutive sentences, until ``count`` distinct texts (all real text;
random vectors would make HNSW recall meaningless).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCIFACT = Path(os.environ.get("SKYBRIDGE_SCIFACT", ROOT.parent / "shared/data/scifact-train"))
CACHE = Path(os.environ.get("SKYBRIDGE_BENCH_CACHE", Path.home() / ".cache/skybridge/benchmarks"))
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(])")
#: Texts per cache file.
SHARD = 5000


def corpus() -> list[dict[str, str]]:
    with (SCIFACT / "corpus.jsonl").open() as handle:
        return [json.loads(line) for line in handle if line.strip()]


def claims() -> list[str]:
    with (SCIFACT / "queries.jsonl").open() as handle:
        return [json.loads(line)["text"] for line in handle if line.strip()]


def sentence_texts(count: int, *, max_tokens: int = 254) -> list[str]:
    """``count`` distinct sentences and runs of sentences of the SciFact abstracts, each within
    the default model's window (``max_tokens`` word pieces)."""
    per_doc = []
    for doc in corpus():
        text = f"{doc.get('title', '')}. {doc['text']}"
        per_doc.append([s.strip() for s in _SENTENCE.split(text) if len(s.strip()) > 20])
    seen: dict[str, None] = {}
    for sentences in per_doc:
        seen.update(dict.fromkeys(sentences))
    for width in (2, 3):
        for sentences in per_doc:
            runs = (" ".join(sentences[i : i + width]) for i in range(len(sentences) - width + 1))
            seen.update(dict.fromkeys(runs))
    from skybridge.backends.embeddings import DEFAULT_URL, connect

    model = connect(DEFAULT_URL)
    fitting = (t for t in seen if model.count_tokens(t) <= max_tokens)
    texts = list(itertools.islice(fitting, count))  # stop tokenising once there are enough
    if len(texts) < count:
        raise SystemExit(f"SciFact gives only {len(texts)} texts, fewer than {count}")
    return texts


def encode_cached(name: str, texts: list[str], *, batch_size: int = 64) -> np.ndarray:
    """The default model's vectors of ``texts``, cached in shards of ``SHARD`` texts.

    Shards are keyed by their texts, so an interrupted run keeps what it encoded and a smaller
    ``count`` reuses the shards of a larger one. ``SKYBRIDGE_BENCH_THREADS`` sets torch's
    threads (1 can beat 2 when other processes keep the cores busy: no spinning workers).
    """
    CACHE.mkdir(parents=True, exist_ok=True)
    model = None
    parts = []
    for start in range(0, len(texts), SHARD):
        shard = texts[start : start + SHARD]
        digest = hashlib.sha256("\n".join(shard).encode()).hexdigest()[:16]
        path = CACHE / f"{name}-{len(shard)}-{digest}.npy"
        if not path.exists():
            if model is None:
                from skybridge.backends.embeddings import DEFAULT_URL, connect

                model = connect(DEFAULT_URL, batch_size=batch_size)
                if os.environ.get("SKYBRIDGE_BENCH_THREADS"):
                    import torch

                    torch.set_num_threads(int(os.environ["SKYBRIDGE_BENCH_THREADS"]))
            began = time.perf_counter()
            partial = path.with_suffix(".partial.npy")
            np.save(partial, model.embed(shard))
            partial.replace(path)  # a killed run leaves no truncated shard behind
            print(
                f"# encoded texts {start}-{start + len(shard)} in "
                f"{time.perf_counter() - began:.0f} s",
                flush=True,
            )
        parts.append(np.load(path))
    return np.vstack(parts)

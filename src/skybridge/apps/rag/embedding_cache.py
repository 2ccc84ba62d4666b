"""Vectors already computed, keyed by the model's fingerprint and the text's hash (kv store).

Re-ingesting a document whose chunks did not change, or indexing the same text twice, costs no
model time. Keys change with the fingerprint, so another model never reads these vectors.
"""

from __future__ import annotations

import hashlib

import numpy as np

from skybridge.backends.embeddings import Embedder, Matrix
from skybridge.backends.kv import KeyValueStore


class EmbeddingCache:
    """``embed`` with a kv-backed cache in front of the model."""

    def __init__(self, kv: KeyValueStore, embedder: Embedder) -> None:
        self.kv = kv
        self.embedder = embedder
        model = hashlib.sha256(embedder.fingerprint.encode()).hexdigest()[:16]
        self.prefix = f"rag/emb/{model}/"
        self.hits = 0
        self.misses = 0

    def _key(self, text: str) -> str:
        return self.prefix + hashlib.sha256(text.encode()).hexdigest()

    def embed(self, texts: list[str]) -> Matrix:
        """Document vectors for ``texts``, computing only those not cached."""
        keys = [self._key(t) for t in texts]
        cached = self.kv.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        fresh = self.embedder.embed([texts[i] for i in missing]) if missing else None
        dimension = self.embedder.dimension
        out = np.zeros((len(texts), dimension), dtype=np.float32)
        for i, key in enumerate(keys):
            if key in cached:
                out[i] = np.frombuffer(cached[key], dtype=np.float32)
        if fresh is not None:
            out[missing] = fresh
            self.kv.put_many({keys[i]: fresh[j].tobytes() for j, i in enumerate(missing)})
        return out

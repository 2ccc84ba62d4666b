"""The HNSW index of a large embedded collection (usearch), persisted beside the SQLite file.

Keys are the records' SQLite row ids, which every process shares, so a process can load the
file another one saved and apply only the writes made after the revision saved with it. The
index file is written to a temporary name and renamed, so readers never see half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from skybridge.backends.vectors.base import Metric, Vector
from skybridge.core.errors import MissingDependency

_USEARCH_METRIC = {"cosine": "ip", "dot": "ip", "l2": "l2sq"}


def _index_class() -> Any:
    try:
        from usearch.index import Index
    except ImportError as exc:
        raise MissingDependency(
            "usearch", "vectors", feature="HNSW search in the embedded vector store"
        ) from exc
    return Index


class HnswIndex:
    """An HNSW graph over (row key -> prepared vector), with the revision it reflects."""

    def __init__(self, dimension: int, metric: Metric, *, ef_search: int, index: Any = None):
        self.dimension = dimension
        self.metric = metric
        self.revision = 0
        self.index = index or _index_class()(
            ndim=dimension,
            metric=_USEARCH_METRIC[metric],
            dtype="f32",
            connectivity=16,
            expansion_add=128,
            expansion_search=ef_search,
        )

    def __len__(self) -> int:
        return len(self.index)

    def add(self, keys: npt.NDArray[np.int64], vectors: Vector) -> None:
        """Add vectors under keys (none of them held)."""
        if len(keys):
            self.index.add(keys.astype(np.uint64), np.ascontiguousarray(vectors), threads=0)

    def remove(self, keys: list[int]) -> None:
        held = [k for k in dict.fromkeys(keys) if k in self.index]
        if held:
            self.index.remove(np.array(held, dtype=np.uint64))

    def search(self, query: Vector, count: int) -> npt.NDArray[np.int64]:
        """Keys of the ``count`` nearest vectors (approximately)."""
        found = self.index.search(query, count=count, threads=1)
        return np.asarray(found.keys, dtype=np.int64)

    def save(self, path: Path) -> None:
        """Write the graph and its revision atomically."""
        temporary = path.with_suffix(".tmp")
        self.index.save(str(temporary))
        os.replace(temporary, path)
        _meta(path).write_text(json.dumps({"revision": self.revision}))

    @classmethod
    def load(
        cls, path: Path, dimension: int, metric: Metric, *, ef_search: int
    ) -> HnswIndex | None:
        """The saved index, or ``None`` when there is none (or it cannot be read)."""
        meta = _meta(path)
        if not path.exists() or not meta.exists():
            return None
        try:
            revision = int(json.loads(meta.read_text())["revision"])
            found = cls(dimension, metric, ef_search=ef_search)
            found.index.load(str(path))
        except (OSError, ValueError, KeyError, RuntimeError):
            return None
        found.revision = revision
        return found


def _meta(path: Path) -> Path:
    return path.with_suffix(".json")

"""The HNSW index of a large embedded collection (usearch), persisted beside the SQLite file.

Keys are the records' SQLite row ids, which every process shares, so a process can load the
file another one saved and apply only the writes made after the revision saved with it. The
graph and its revision (``<name>.json``) are each written to a name of their own and renamed,
so readers never see half a file, and the revision names the graph file it belongs to (its
inode): processes saving at once can leave a graph beside another one's revision, and a reader
that finds them apart, or sees the graph replaced while it loads it, loads nothing (the graph
is built again) rather than a graph with a revision it does not reflect.
"""

from __future__ import annotations

import json
import os
import uuid
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
        """Write the graph and its revision, each atomically (see the module's notes)."""
        graph = _unique(path)
        try:
            self.index.save(str(graph))
            meta = {"revision": self.revision, "inode": graph.stat().st_ino}
            written = _unique(_meta(path))
            written.write_text(json.dumps(meta))
        except BaseException:
            graph.unlink(missing_ok=True)
            raise
        os.replace(graph, path)
        os.replace(written, _meta(path))

    @classmethod
    def load(
        cls, path: Path, dimension: int, metric: Metric, *, ef_search: int
    ) -> HnswIndex | None:
        """The saved index, or ``None`` when there is none, it cannot be read, or its revision
        is not the one saved with it."""
        try:
            before = path.stat().st_ino
            meta = json.loads(_meta(path).read_text())
            revision = int(meta["revision"])
            found = cls(dimension, metric, ef_search=ef_search)
            found.index.load(str(path))
            if not meta.get("inode") == before == path.stat().st_ino:
                return None  # another process's graph, or replaced while it was loaded
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None
        found.revision = revision
        return found


def _meta(path: Path) -> Path:
    return path.with_suffix(".json")


def _unique(path: Path) -> Path:
    """A temporary name beside ``path`` that no other writer (thread or process) uses."""
    return path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")

"""The HNSW index of a large embedded collection (usearch), persisted beside the SQLite file.

Keys are the records' SQLite row ids, which every process shares, so a process can load the
file another one saved and apply only the writes made after the revision saved with it.

Each save writes the graph under a name of its own (``<name>-<generation>.r<revision>-<random>
.usearch``), then replaces ``<name>-<generation>.json``, which names that file and its
revision: the one step that makes a save visible. A reader loads the file the ``.json`` names,
so a graph is never read with a revision it does not reflect, even while processes save at
once; a graph deleted meanwhile (a newer save sweeps older files) is built again. A save then
deletes the graphs the ``.json`` no longer names: older ones, and any left a minute or more by
a save that did not finish.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import time
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
        """Save the graph and its revision for ``path`` (see the module's notes)."""
        graph = path.with_name(f"{path.stem}.r{self.revision}-{uuid.uuid4().hex[:12]}.usearch")
        meta = _meta(path)
        written = _unique(meta)
        try:
            self.index.save(str(graph))
            written.write_text(json.dumps({"revision": self.revision, "graph": graph.name}))
            os.replace(written, meta)
        except BaseException:
            graph.unlink(missing_ok=True)
            written.unlink(missing_ok=True)
            raise
        _sweep(path, self.revision)

    @classmethod
    def load(
        cls, path: Path, dimension: int, metric: Metric, *, ef_search: int
    ) -> HnswIndex | None:
        """The saved index, or ``None`` when there is none or it cannot be read (saved by an
        older layout, or deleted by a newer save while it was looked up)."""
        try:
            meta = json.loads(_meta(path).read_text())
            name, revision = meta["graph"], int(meta["revision"])
            if not isinstance(name, str) or Path(name).name != name:
                return None
            found = cls(dimension, metric, ef_search=ef_search)
            found.index.load(str(path.with_name(name)))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError):
            return None
        found.revision = revision
        return found


#: Seconds after which a file of an unfinished save is swept (a save takes a few at most).
STALE_SECONDS = 60.0


def _sweep(path: Path, revision: int) -> None:
    """Delete the files of ``path``'s graph that its ``.json`` does not name: graphs of older
    revisions, and files unfinished saves left :data:`STALE_SECONDS` ago (a file a concurrent
    save is writing is left to it)."""
    meta = _meta(path)
    try:
        current = json.loads(meta.read_text()).get("graph")
    except (OSError, ValueError, AttributeError):
        return
    stale = time.time() - STALE_SECONDS
    for found in path.parent.glob(f"{glob.escape(path.stem)}.*"):
        if found.name in (current, meta.name):
            continue
        older = found == path or _revision_of(found.name, path.stem) < revision
        with contextlib.suppress(OSError):
            if older or found.stat().st_mtime < stale:
                found.unlink()


def _revision_of(name: str, stem: str) -> int:
    """The revision in a graph file's name (``<stem>.r<revision>-<random>.usearch``); a large
    number for any other file, so that only age sweeps it."""
    head = name[len(stem) + 2 :].partition("-")[0]
    return int(head) if name.startswith(f"{stem}.r") and head.isdigit() else 2**62


def _meta(path: Path) -> Path:
    return path.with_suffix(".json")


def _unique(path: Path) -> Path:
    """A temporary name beside ``path`` that no other writer (thread or process) uses."""
    return path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")

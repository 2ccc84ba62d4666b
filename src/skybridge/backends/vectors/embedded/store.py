"""``embedded://<folder>``: vectors in a SQLite file, searched in memory, HNSW when large.

The SQLite file (``vectors.db``) is the truth; each process keeps every collection it queries in
memory (:class:`~.memory.Vectors`) and catches up with other writers by revision. A collection
is searched exactly until it holds ``ann_threshold`` records (100k x 384-d costs ~30 ms per
exact query on 2 cores), then through an HNSW graph (usearch) saved next to the file. Filtered
queries pick their own way: when at most ``exact_limit`` records match, exactly over those;
otherwise the graph with over-fetching, and exactly if that still finds fewer than ``k``.
So a filtered query returns ``k`` records whenever ``k`` match.

Rows carry the revision that wrote them and deletions leave tombstones, so
:meth:`~skybridge.backends.vectors.base.VectorStore.changes` answers from the file alone.
Tombstones are kept for recent revisions only (see :mod:`.schema`): a process whose copy of a
collection, or a saved graph whose revision, is older than the collection's ``feed_from``
cannot catch up from them, so it loads the collection again (or builds the graph again).

URL options: ``ann_threshold`` (20000), ``exact_limit`` (20000), ``ef_search`` (64),
``keep_deleted`` (10000: the fewest tombstones a collection keeps, see
:mod:`~skybridge.backends.vectors.retention`).
"""

from __future__ import annotations

import bisect
import math
import threading
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import orjson

from skybridge.backends.vectors import retention
from skybridge.backends.vectors.base import (
    Changes,
    CollectionInfo,
    Match,
    Vector,
    VectorRecord,
    VectorStore,
)
from skybridge.backends.vectors.embedded import schema
from skybridge.backends.vectors.embedded.ann import HnswIndex
from skybridge.backends.vectors.embedded.memory import Vectors
from skybridge.backends.vectors.filters import Filter
from skybridge.core.errors import ConfigError, NotFound
from skybridge.core.observability import error_summary, get_logger
from skybridge.core.urls import BackendURL

log = get_logger(__name__)
_OPTIONS = ("ann_threshold", "exact_limit", "ef_search", "keep_deleted")


class _Held:
    """One collection as this process holds it."""

    def __init__(self, info: CollectionInfo) -> None:
        self.generation = info.generation
        self.revision = 0
        self.vectors = Vectors(info.dimension, info.metric)
        self.ann: HnswIndex | None = None
        self.ann_dirty = False


class EmbeddedVectorStore(VectorStore):
    """Vectors in a local folder: exact search, HNSW beyond a threshold, filters in memory."""

    capabilities: ClassVar[frozenset[str]] = frozenset({"filters", "persistent", "ann", "changes"})
    scheme: ClassVar[str] = "embedded"

    def __init__(
        self,
        folder: Path,
        *,
        ann_threshold: int = 20_000,
        exact_limit: int = 20_000,
        ef_search: int = 64,
        keep_deleted: int = retention.KEEP_DELETED,
    ) -> None:
        for name, value in (
            ("ann_threshold", ann_threshold),
            ("exact_limit", exact_limit),
            ("ef_search", ef_search),
            ("keep_deleted", keep_deleted),
        ):
            if value < 1:
                raise ConfigError(f"embedded vectors {name} must be >= 1, got {value}")
        self.folder = folder
        self.ann_threshold = ann_threshold
        self.exact_limit = exact_limit
        self.ef_search = ef_search
        self.keep_deleted = keep_deleted
        self.db = schema.Database(folder / "vectors.db")
        self._held: dict[str, _Held] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        folder = Path(options.pop("folder", None) or url.location())
        numbers: dict[str, int] = {}
        for name in _OPTIONS:
            value = options.pop(name, url.params.get(name))
            if value is not None:
                try:
                    numbers[name] = int(value)
                except (TypeError, ValueError):
                    raise ConfigError(f"embedded vectors {name} must be an integer") from None
        unknown = sorted(set(options) | (set(url.params) - set(numbers)))
        if unknown:
            raise ConfigError(
                f"unknown embedded vectors options: {', '.join(unknown)}",
                hint=f"use {', '.join(_OPTIONS[:-1])} or {_OPTIONS[-1]}",
            )
        return cls(folder, **numbers)

    def ping(self) -> None:
        with self.db.read() as conn:
            conn.execute("SELECT 1 FROM collections LIMIT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            for name, held in self._held.items():
                if held.ann is not None and held.ann_dirty:
                    self._save_ann(held.ann, name, held.generation)
            self._held.clear()
            self.db.close()

    # -- collections --------------------------------------------------------------------------

    def _create(self, info: CollectionInfo) -> None:
        with self.db.write() as conn:
            schema.create(conn, info)

    def _describe(self, name: str) -> CollectionInfo | None:
        with self.db.read() as conn:
            return schema.describe(conn, name)

    def _names(self) -> list[str]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT name FROM collections ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def _drop(self, name: str) -> bool:
        with self.db.write() as conn:
            gone = schema.drop(conn, name)
        with self._lock:
            held = self._held.pop(name, None)
        if held is not None:
            for path in self.folder.glob(f"{name}-{held.generation}.*"):
                path.unlink(missing_ok=True)
        return gone

    def _set_properties(self, name: str, properties: dict[str, str]) -> None:
        with self.db.write() as conn:
            conn.execute(
                "UPDATE collections SET properties = ? WHERE name = ?",
                (orjson.dumps(properties).decode(), name),
            )
            schema.stamp(conn, name)

    # -- records ------------------------------------------------------------------------------

    def _upsert(self, name: str, records: list[VectorRecord]) -> None:
        ids = [r.id for r in records]
        with self.db.write() as conn:
            known = sum(
                conn.execute(
                    f"SELECT COUNT(*) FROM records WHERE collection = ? AND id IN "
                    f"({','.join('?' * len(ids[s : s + 500]))})",
                    (name, *ids[s : s + 500]),
                ).fetchone()[0]
                for s in range(0, len(ids), 500)
            )
            seq = schema.stamp(conn, name, len(ids) - known)
            conn.executemany(
                "INSERT INTO records (collection, id, vector, metadata, seq) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection, id) DO UPDATE SET "
                "vector = excluded.vector, metadata = excluded.metadata, seq = excluded.seq",
                [
                    (
                        name,
                        r.id,
                        np.asarray(r.vector, np.float32).tobytes(),
                        orjson.dumps(r.metadata).decode(),
                        seq,
                    )
                    for r in records
                ],
            )

    def _delete(self, name: str, ids: list[str]) -> int:
        marks = ",".join("?" * len(ids))
        with self.db.write() as conn:
            gone = conn.execute(
                f"DELETE FROM records WHERE collection = ? AND id IN ({marks}) RETURNING rowid, id",
                (name, *ids),
            ).fetchall()
            seq = schema.stamp(conn, name, -len(gone))
            schema.bury(conn, name, seq, gone, self.keep_deleted)
        return len(gone)

    def _get(self, name: str, ids: list[str]) -> list[VectorRecord]:
        dimension = self.collection(name).dimension
        out: list[VectorRecord] = []
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self.db.read() as conn:
                rows = conn.execute(
                    f"SELECT id, vector, metadata FROM records "
                    f"WHERE collection = ? AND id IN ({marks})",
                    (name, *chunk),
                ).fetchall()
            out += [_record(row, dimension) for row in rows]
        return out

    def _scan(
        self, name: str, flt: Filter, after: str | None, limit: int, vectors: bool
    ) -> list[VectorRecord]:
        if flt:
            return self._scan_matching(name, flt, after, limit, vectors)
        dimension = self.collection(name).dimension
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id, vector, metadata FROM records WHERE collection = ? "
                "AND id > ? ORDER BY id LIMIT ?",
                (name, after or "", limit),
            ).fetchall()
        return [_record(row, dimension, vectors=vectors) for row in rows]

    def _scan_matching(
        self, name: str, flt: Filter, after: str | None, limit: int, vectors: bool
    ) -> list[VectorRecord]:
        """A filtered page, found through the in-memory masks (no pass over the file)."""
        with self._lock:
            held = self._refresh(name)
            found = held.vectors
            ids = sorted(found.ids[p] for p in np.flatnonzero(found.mask(flt)))
            start = bisect.bisect_right(ids, after) if after is not None else 0
            picked = ids[start : start + limit]
            metadata = {i: dict(found.metadata[found.position[i]]) for i in picked}
        if vectors:
            by_id = {r.id: r for r in self._get(name, picked)}
            return [by_id[i] for i in picked if i in by_id]
        return [VectorRecord(i, None, metadata[i]) for i in picked]

    def _count(self, name: str, flt: Filter) -> int:
        with self._lock:
            held = self._refresh(name)
            return int(held.vectors.mask(flt).sum()) if flt else held.vectors.size

    def _changes(self, name: str, since: int, generation: str) -> Changes | None:
        with self.db.read() as conn:
            info = schema.describe(conn, name)
            if info is None:
                raise self._missing(name)
            if info.generation != generation or since > info.revision:
                return None  # made again, or a revision it never had (``feed_from``: below)
            return schema.changes(conn, info, since)

    def _query(self, name: str, vector: Vector, k: int, flt: Filter) -> list[Match]:
        with self._lock:
            held = self._refresh(name)
            vectors = held.vectors
            query = vectors.prepare(vector)
            if not flt:
                if held.ann is None:
                    return vectors.exact(np.flatnonzero(vectors.live), query, k)
                return self._ann_query(held, query, k, None)
            mask = vectors.mask(flt)
            matching = int(mask.sum())
            if held.ann is None or matching <= self.exact_limit:
                return vectors.exact(np.flatnonzero(mask), query, k)
            return self._ann_query(held, query, k, mask)

    def _ann_query(self, held: _Held, query: Vector, k: int, mask: Any | None) -> list[Match]:
        assert held.ann is not None
        vectors = held.vectors
        total = max(vectors.size, 1)
        share = 1.0 if mask is None else max(float(mask.sum()) / total, 1e-6)
        count = min(total, max(k, math.ceil(k / share * 1.5)))
        while True:
            keys = held.ann.search(query, count)
            positions = np.array(
                [
                    p
                    for key in keys
                    if (p := vectors.by_key.get(int(key))) is not None and (mask is None or mask[p])
                ],
                dtype=np.int64,
            )
            if len(positions) >= k or count >= total:
                break
            count = min(total, count * 4)
        if len(positions) < k:
            pool = vectors.live if mask is None else mask
            return vectors.exact(np.flatnonzero(pool), query, k)
        return vectors.exact(positions, query, k)

    # -- catching up --------------------------------------------------------------------------

    def _refresh(self, name: str) -> _Held:
        """This process's copy of ``name``, brought up to the stored revision."""
        with self.db.read() as conn:
            info = schema.describe(conn, name)
            if info is None:
                self._held.pop(name, None)
                raise self._missing(name)
            held = self._held.get(name)
            if (
                held is None
                or held.generation != info.generation
                # tombstones it would need were pruned: what they removed could stay held
                or (held.revision < info.revision and held.revision < schema.feed_from(conn, name))
            ):
                held = self._held[name] = _Held(info)
            if held.revision < info.revision:
                self._apply_changes(conn, held, name, info.revision)
        self._maintain_ann(held, name)
        return held

    def _apply_changes(self, conn: Any, held: _Held, name: str, revision: int) -> None:
        since = held.revision
        dead = conn.execute(
            "SELECT key FROM tombstones WHERE collection = ? AND seq > ?", (name, since)
        ).fetchall()
        rows = conn.execute(
            "SELECT rowid, id, vector, metadata FROM records WHERE collection = ? AND seq > ?",
            (name, since),
        ).fetchall()
        vectors = held.vectors
        for (key,) in dead:
            vectors.remove_key(int(key))
        changed: list[int] = []
        for key, rid, blob, metadata in rows:
            vector = np.frombuffer(blob, dtype=np.float32)
            vectors.put(int(key), rid, vector, orjson.loads(metadata))
            changed.append(int(key))
        if held.ann is not None:
            held.ann.remove([int(k) for (k,) in dead] + changed)
            self._add_to_ann(held, changed)
            held.ann.revision = revision
            held.ann_dirty = True
        held.revision = revision
        vectors.compact()

    def _add_to_ann(self, held: _Held, keys: list[int]) -> None:
        assert held.ann is not None
        positions = [held.vectors.by_key[k] for k in keys if k in held.vectors.by_key]
        held.ann.add(held.vectors.keys[positions], held.vectors.matrix[positions])

    def _maintain_ann(self, held: _Held, name: str) -> None:
        """Load or build the HNSW graph once the collection is large enough."""
        if held.ann is not None or held.vectors.size < self.ann_threshold:
            return
        vectors = held.vectors
        path = self._ann_path(name, held.generation)
        loaded = HnswIndex.load(path, vectors.dimension, vectors.metric, ef_search=self.ef_search)
        if (
            loaded is not None
            and loaded.revision <= held.revision
            and self._catch_up_ann(loaded, held, name)
        ):
            held.ann = loaded
            held.ann_dirty = False
        else:
            held.ann = HnswIndex(vectors.dimension, vectors.metric, ef_search=self.ef_search)
            live = np.flatnonzero(vectors.live[: len(vectors.ids)])
            held.ann.add(vectors.keys[live], vectors.matrix[live])
            held.ann.revision = held.revision
            held.ann_dirty = not self._save_ann(held.ann, name, held.generation)

    def _catch_up_ann(self, ann: HnswIndex, held: _Held, name: str) -> bool:
        """Bring a loaded graph up to ``held``'s revision; ``False`` (the graph untouched) when
        it is older than ``feed_from``: the tombstones of rows it holds may be gone."""
        with self.db.read() as conn:
            if ann.revision < schema.feed_from(conn, name):
                return False
            dead = conn.execute(
                "SELECT key FROM tombstones WHERE collection = ? AND seq > ?",
                (name, ann.revision),
            ).fetchall()
            rows = conn.execute(
                "SELECT rowid FROM records WHERE collection = ? AND seq > ?",
                (name, ann.revision),
            ).fetchall()
        changed = [int(k) for (k,) in rows]
        ann.remove([int(k) for (k,) in dead] + changed)
        positions = [held.vectors.by_key[k] for k in changed if k in held.vectors.by_key]
        ann.add(held.vectors.keys[positions], held.vectors.matrix[positions])
        ann.revision = held.revision
        return True

    def _ann_path(self, name: str, generation: str) -> Path:
        return self.folder / f"{name}-{generation}.usearch"

    def _save_ann(self, ann: HnswIndex, name: str, generation: str) -> bool:
        """Save the graph for the next process to load; whether it was saved. A graph that
        cannot be saved (disk full, folder gone) is kept in memory: the reads go on."""
        try:
            ann.save(self._ann_path(name, generation))
        except (OSError, RuntimeError) as exc:
            log.warning("vectors.graph_not_saved", collection=name, error=error_summary(exc))
            return False
        return True

    def _missing(self, name: str) -> NotFound:
        return NotFound(f"vector collection {name!r} does not exist")

    def flush(self) -> None:
        """Save HNSW graphs changed since they were last saved."""
        with self._lock:
            for name, held in self._held.items():
                if held.ann is not None and held.ann_dirty:
                    held.ann_dirty = not self._save_ann(held.ann, name, held.generation)


def _record(row: Any, dimension: int, *, vectors: bool = True) -> VectorRecord:
    rid, blob, metadata = row
    vector = np.frombuffer(blob, dtype=np.float32).copy() if vectors else None
    assert vector is None or vector.shape == (dimension,)
    return VectorRecord(rid, vector, orjson.loads(metadata))

"""Model versions: each one's item vectors in its own vector collection, its description in kv,
and one ``current`` pointer that a retraining swaps atomically.

A retraining writes collection ``<collection>_v<NNNN>`` completely, then its description, and
only then replaces the ``current`` pointer (one kv write), so a reader sees the old model or the
new one, never half of one. Readers cache a version's factors in memory by version id and check
the pointer on every request (a single key read). Old versions beyond ``keep_versions`` are
dropped after the swap.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.model import AlsParams, ItemFactors
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.vectors import VectorRecord, VectorStore
from skybridge.core.errors import Conflict, NotFound


@dataclass(frozen=True)
class ModelVersion:
    """A trained model's description (its factors live in ``collection``)."""

    version: str
    collection: str
    trained_at: float
    window_days: float
    users: int
    items: int
    interactions: int
    params: AlsParams
    popular: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "collection": self.collection,
            "trained_at": self.trained_at,
            "window_days": self.window_days,
            "users": self.users,
            "items": self.items,
            "interactions": self.interactions,
            "params": vars(self.params),
            "popular": self.popular,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        return cls(**{**data, "params": AlsParams(**data["params"])})


class VersionStore:
    """Versions of one recommender (``collection``) in kv + vectors."""

    def __init__(
        self, kv: KeyValueStore, vectors: VectorStore, collection: str, *, keep: int = 3
    ) -> None:
        self.kv = kv
        self.keep = keep
        self.vectors = vectors
        self.base = collection
        self.prefix = f"recommend/{collection}/versions/"
        self.pointer = f"recommend/{collection}/current"
        self._cache: dict[str, ItemFactors] = {}
        self._described: dict[str, ModelVersion] = {}
        self._lock = threading.Lock()
        #: Held while a version's factors are read: one read however many requests ask.
        self._reading = threading.Lock()

    def current(self) -> ModelVersion | None:
        """The served version, or ``None`` before the first training (one key read: a
        version's description never changes, so it is read once)."""
        pointer = self.kv.get_json(self.pointer)
        if not pointer:
            return None
        name = pointer["version"]
        with self._lock:
            known = self._described.get(name)
        if known is not None:
            return known
        found = self.get(name)
        if found is not None:
            with self._lock:
                self._described = {name: found}
        return found

    def get(self, version: str) -> ModelVersion | None:
        found = self.kv.get_json(self.prefix + version)
        return ModelVersion.from_dict(found) if found else None

    def list(self) -> list[ModelVersion]:
        rows = [self.get(k.removeprefix(self.prefix)) for k in self.kv.keys(self.prefix)]
        return [v for v in rows if v is not None]

    def next_version(self) -> str:
        numbers = [int(v.version[1:]) for v in self.list() if v.version[1:].isdigit()]
        return f"v{max(numbers, default=0) + 1:04d}"

    def publish(
        self, version: ModelVersion, factors: ItemFactors, items: dict[str, Item]
    ) -> ModelVersion:
        """Write the version's vectors and description, then swap ``current`` to it."""
        if self.get(version.version) is not None:
            raise Conflict(f"model version {version.version} exists already")
        # a collection of this name is what a failed retraining left: never served, replaced
        self.vectors.drop_collection(version.collection)
        self.vectors.create_collection(
            version.collection,
            factors.params.factors,
            metric="dot",
            properties={"model_version": version.version},
        )
        records = (
            VectorRecord(item, factors.factors[n], _metadata(items.get(item), item))
            for n, item in enumerate(factors.ids)
        )
        self.vectors.upsert(version.collection, records)
        self.vectors.flush()
        self.kv.put_json(self.prefix + version.version, version.to_dict())
        self.kv.put_json(self.pointer, {"version": version.version, "at": time.time()})
        with self._lock:
            self._cache[version.version] = factors
        self._drop_old(version.version)
        return version

    def update_items(self, items: dict[str, Item]) -> int:
        """Copy changed catalogue fields (availability, category...) into the served version's
        index; returns how many of its items changed."""
        current = self.current()
        if current is None or not items:
            return 0
        held = self.vectors.get(current.collection, list(items))
        changed = [
            VectorRecord(r.id, r.vector, items[r.id].metadata())
            for r in held
            if r.metadata != items[r.id].metadata()
        ]
        self.vectors.upsert(current.collection, changed)
        return len(changed)

    def factors(self, version: ModelVersion) -> ItemFactors:
        """The version's item factors (read once per process, then cached). Callers that ask
        while they are read wait for that read, rather than each scanning the whole collection
        again (a burst of first requests after a start or a retraining)."""
        cached = self._cached(version)
        if cached is not None:
            return cached
        with self._reading:
            cached = self._cached(version)
            if cached is not None:
                return cached
            records = list(self.vectors.scan(version.collection, vectors=True))
            if not records:
                raise NotFound(f"model {version.version} has no item vectors")
            matrix = np.stack([np.asarray(r.vector, dtype=np.float32) for r in records])
            loaded = ItemFactors([r.id for r in records], matrix, version.params)
            with self._lock:
                self._cache = {version.version: loaded, **self._cache}
            return loaded

    def _cached(self, version: ModelVersion) -> ItemFactors | None:
        with self._lock:
            return self._cache.get(version.version)

    def _drop_old(self, keep: str) -> None:
        versions = sorted(self.list(), key=lambda v: v.version)
        limit = max(1, self.keep)
        for old in versions[:-limit]:
            if old.version == keep:
                continue
            self.vectors.drop_collection(old.collection)
            self.kv.delete(self.prefix + old.version)
            with self._lock:
                self._cache.pop(old.version, None)


def _metadata(item: Item | None, item_id: str) -> dict[str, Any]:
    return (item or Item(item_id)).metadata()

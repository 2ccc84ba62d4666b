"""Model versions: each one's item vectors in its own vector collection, its description in kv,
and one ``current`` pointer that a retraining swaps atomically.

A retraining first claims its version id: it creates the kv key ``claims/vNNNN`` with
compare-and-set, taking the next number when that key exists, so two retrainings at once never
share an id or write into one collection. It writes collection ``<collection>_vNNNN``
completely, then its description, and only then moves the ``current`` pointer (one
compare-and-set), never back to an older number: a retraining overtaken by one that claimed a
later id and swapped first removes what it wrote. A reader sees the old model or the new one,
never half of one.

Readers check the pointer on every request (a single key read) and cache factors in memory for
the two newest versions they loaded (the served one, and the one before for requests still on
it); a version's factors are cached only when the collection holds every item its description
counts. After a swap, versions beyond ``keep_versions``, and what failed retrainings with lower
ids left, are dropped.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.model import AlsParams, ItemFactors
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.vectors import VectorRecord, VectorStore
from skybridge.core.errors import Conflict, TransientError, ValidationError

#: Versions whose factors a reader keeps in memory: the served one and the one before it.
CACHED_VERSIONS = 2


@dataclass(frozen=True)
class ModelVersion:
    """A trained model's description (its factors live in ``collection``, ``items`` of them)."""

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
        self.claims = f"recommend/{collection}/claims/"
        self.pointer = f"recommend/{collection}/current"
        self._cache: dict[str, ItemFactors] = {}
        self._described: dict[str, ModelVersion] = {}
        self._claimed: set[str] = set()
        #: Claims of this store that a later version's publish dropped before they published.
        self._overtaken: set[str] = set()
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

    def claim_version(self) -> str:
        """A new version id, held by this store alone: the next number's claim key is created
        with compare-and-set, and a number another retraining claimed first is passed over."""
        names = [k.removeprefix(self.claims) for k in self.kv.keys(self.claims)]
        names += [k.removeprefix(self.prefix) for k in self.kv.keys(self.prefix)]
        number = max(map(_number, names), default=0) + 1
        while True:
            name = f"v{number:04d}"
            try:
                self.kv.compare_and_set(self.claims + name, b"{}", 0)
            except Conflict:
                number += 1
                continue
            with self._lock:
                self._claimed.add(name)
            return name

    def publish(self, version: ModelVersion, factors: ItemFactors, items: dict[str, Item]) -> bool:
        """Write the version's vectors and description, then swap ``current`` to it.

        Returns:
            Whether it is served: ``False`` when a version with a later id was swapped in
            meanwhile (this one's vectors and description are then removed, or were never
            written when that swap already dropped this version's claim).

        Raises:
            Conflict: ``version`` was not claimed by :meth:`claim_version` of this store, or
                was published already (a claim is used once).
            ValidationError: ``version.items`` is not the number of ``factors``.
        """
        with self._lock:
            claimed = version.version in self._claimed
            overtaken = version.version in self._overtaken
            self._claimed.discard(version.version)
            self._overtaken.discard(version.version)
        if overtaken:  # a later version was served while this one trained: nothing to write
            return False
        if not claimed:
            raise Conflict(f"model version {version.version} is not claimed by this store")
        if version.items != len(factors.ids):
            raise ValidationError(
                f"{version.version} counts {version.items} items, not {len(factors.ids)}"
            )
        self._write_vectors(version, factors, items)
        self.kv.put_json(self.prefix + version.version, version.to_dict())
        if not self._swap(version.version):
            self._drop(version.version, version.collection)
            return False
        self._remember(version.version, factors)
        self._drop_old(version.version)
        return True

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
        again (a burst of first requests after a start or a retraining).

        Raises:
            TransientError: the collection does not hold as many items as its description
                counts (it is being dropped); nothing is cached.
        """
        cached = self._cached(version)
        if cached is not None:
            return cached
        with self._reading:
            cached = self._cached(version)
            if cached is not None:
                return cached
            records = list(self.vectors.scan(version.collection, vectors=True))
            if len(records) != version.items:
                raise TransientError(
                    f"model {version.version} holds {len(records)} of its {version.items} "
                    "item vectors (it is being dropped); try again"
                )
            matrix = np.stack([np.asarray(r.vector, dtype=np.float32) for r in records])
            loaded = ItemFactors([r.id for r in records], matrix, version.params)
            self._remember(version.version, loaded)
            return loaded

    def _cached(self, version: ModelVersion) -> ItemFactors | None:
        with self._lock:
            return self._cache.get(version.version)

    def _remember(self, name: str, factors: ItemFactors) -> None:
        """Cache ``factors``, keeping only the :data:`CACHED_VERSIONS` newest versions (an older
        one asked for late is returned to its caller but not kept)."""
        with self._lock:
            cache = {**self._cache, name: factors}
            newest = sorted(cache, key=_number)[-CACHED_VERSIONS:]
            self._cache = {n: cache[n] for n in newest}

    def _write_vectors(
        self, version: ModelVersion, factors: ItemFactors, items: dict[str, Item]
    ) -> None:
        # only a retraining that held no claim on this id can have left a collection under it
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

    def _swap(self, name: str) -> bool:
        """Point ``current`` at ``name`` unless it names a later version; whether it does now."""
        pointer = _json({"version": name, "at": time.time()})
        while True:
            item = self.kv.get_item(self.pointer)
            if item is not None and _number(json.loads(item.value)["version"]) > _number(name):
                return False
            try:
                self.kv.compare_and_set(self.pointer, pointer, 0 if item is None else item.version)
            except Conflict:
                continue  # another retraining swapped between the read and the write
            return True

    def _drop_old(self, served: str) -> None:
        """Drop, below the ``served`` id, described versions beyond the ``keep`` newest and
        claims with no description (retrainings that failed, or that can no longer be
        served), each with its collection."""
        described = {v.version: v for v in self.list()}
        kept = set(sorted(described, key=_number)[-max(1, self.keep) :]) | {served}
        claimed = {k.removeprefix(self.claims) for k in self.kv.keys(self.claims)}
        for name in sorted((set(described) | claimed) - kept, key=_number):
            if _number(name) < _number(served):
                found = described.get(name)
                self._drop(name, found.collection if found else f"{self.base}_{name}")

    def _drop(self, name: str, collection: str) -> None:
        self.vectors.drop_collection(collection)
        self.kv.delete(self.prefix + name)
        self.kv.delete(self.claims + name)
        with self._lock:
            self._cache.pop(name, None)
            if name in self._claimed:  # its retraining is still running: publish says overtaken
                self._claimed.discard(name)
                self._overtaken.add(name)


def _number(name: str) -> int:
    """The number of version id ``vNNNN`` (-1 for any other name)."""
    return int(name[1:]) if name.startswith("v") and name[1:].isdigit() else -1


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _metadata(item: Item | None, item_id: str) -> dict[str, Any]:
    return (item or Item(item_id)).metadata()

"""Version-guarded kv documents: exactly-once effects on top of at-least-once delivery.

Every document the runtime writes to a kv store (handler state and kv sink items) is stored
in an envelope ``{"v": value, "g": {"topic/partition": offset}}``. The guard ``g`` remembers,
per ordered source partition, the highest offset whose change is already in ``v``. A change
from an offset at or below the guard is skipped, so a redelivered record cannot apply its
effect twice. Writes use compare-and-set on the kv item version, so two workers racing on one
key (e.g. during a rebalance) never lose an update.

A pipeline reads documents through the store's cache (:meth:`GuardedStore.load_cached`: the
documents this worker last read or wrote, with their versions) and writes them in batches (see
:mod:`.writes`). A cached document that another writer changed meanwhile is harmless: its
version no longer matches, the batch write fails as a whole and the batch is redone from the
store.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from skybridge.backends.kv.base import KeyValueStore
from skybridge.core import jsoncodec
from skybridge.core.errors import Conflict, ValidationError

#: Sentinel result of a change function that deletes the document.
DELETED: Any = object()
#: Compare-and-set attempts per key before a ``Conflict`` is raised (a transient race).
_CAS_ATTEMPTS = 20
#: Documents a store keeps in its cache (the oldest are dropped first).
DEFAULT_CACHE_SIZE = 200_000


@dataclass(slots=True)
class Guarded:
    """A document, the guard offsets already applied to it and its kv item version."""

    value: Any = None
    guard: dict[str, int] = field(default_factory=dict)
    version: int = 0
    deleted: bool = False

    def applied(self, source: str, offset: int) -> bool:
        """Whether the change from ``source`` at ``offset`` is already in this document."""
        return offset <= self.guard.get(source, -1)

    def encode(self) -> bytes:
        doc: dict[str, Any] = {"v": self.value, "g": self.guard}
        if self.deleted:
            doc["d"] = 1
        try:
            return jsoncodec.dumps(doc)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"state or kv sink value is not JSON-encodable: {exc}") from None

    @classmethod
    def decode(cls, raw: bytes, version: int) -> Guarded:
        doc = json.loads(raw)  # exact (big integers), and only on a cache miss
        if not isinstance(doc, dict) or "g" not in doc:
            raise ValidationError("kv item was not written by the stream runtime (no guard)")
        return cls(doc.get("v"), dict(doc["g"]), version, bool(doc.get("d")))


@dataclass(frozen=True, slots=True)
class Change:
    """``fn(current) -> new`` from the record at ``offset`` of ``source``."""

    source: str
    offset: int
    fn: Callable[[Any], Any]


class GuardedStore:
    """Read and apply guarded changes to documents under ``prefix`` of a kv store."""

    def __init__(
        self, kv: KeyValueStore, prefix: str = "", *, cache_size: int = DEFAULT_CACHE_SIZE
    ) -> None:
        self.kv = kv
        self.prefix = prefix
        self.cache_size = cache_size
        self._cache: dict[str, Guarded] = {}

    def load_cached(self, keys: Iterable[str]) -> dict[str, Guarded]:
        """Like :meth:`load`, but documents in the cache are not read again.

        Callers must not mutate the documents returned (they are shared with the cache).
        """
        cache = self._cache
        found: dict[str, Guarded] = {}
        missing: list[str] = []
        for key in keys:
            doc = cache.get(key)
            if doc is None:
                missing.append(key)
            else:
                found[key] = doc
        if missing:
            fetched = self.load(missing)
            found.update(fetched)
            self.remember(fetched)
        return found

    def remember(self, docs: dict[str, Guarded]) -> None:
        """Put documents known to be current (just read or written) in the cache."""
        cache = self._cache
        cache.update(docs)
        excess = len(cache) - self.cache_size
        if excess > 0:
            for key in list(itertools.islice(cache, excess)):
                del cache[key]

    def invalidate(self) -> None:
        """Forget every cached document (after a rebalance or a failed batch write)."""
        self._cache.clear()

    def load(self, keys: Iterable[str]) -> dict[str, Guarded]:
        """The guarded documents at ``keys`` (absent keys get an empty document)."""
        wanted = list(dict.fromkeys(keys))
        items = self.kv.get_items(self.prefix + k for k in wanted)
        found: dict[str, Guarded] = {}
        for key in wanted:
            item = items.get(self.prefix + key)
            found[key] = Guarded() if item is None else Guarded.decode(item.value, item.version)
        return found

    def get(self, key: str) -> Any:
        """The current value at ``key`` (``None`` if absent or deleted)."""
        doc = self.load([key])[key]
        return None if doc.deleted else doc.value

    def apply(self, key: str, changes: Sequence[Change], known: Guarded | None = None) -> bool:
        """Apply the changes not yet in the document, in order; True if anything was written.

        ``known`` is a document read earlier (saves a read when nobody else wrote since).
        """
        doc = known
        for _ in range(_CAS_ATTEMPTS):
            if doc is None:
                doc = self.load([key])[key]
            updated = fold(doc, changes)
            if updated is None:
                return False
            try:
                self.kv.compare_and_set(self.prefix + key, updated.encode(), doc.version)
            except Conflict:
                doc = None  # someone else wrote: re-read and re-check the guard
                continue
            return True
        raise Conflict(f"kv key {self.prefix + key!r} kept changing under the stream runtime")


def fold(doc: Guarded, changes: Sequence[Change]) -> Guarded | None:
    """``doc`` with the pending changes applied, or ``None`` if every change was applied."""
    value, deleted = doc.value, doc.deleted
    guard = dict(doc.guard)
    pending = False
    for change in changes:
        # Compare with the stored guard: one record may change a key several times.
        if doc.applied(change.source, change.offset):
            continue
        pending = True
        result = change.fn(None if deleted else value)
        deleted = result is DELETED
        value = None if deleted else result
        guard[change.source] = max(change.offset, guard.get(change.source, -1))
    if not pending:
        return None
    return Guarded(value, guard, doc.version, deleted)

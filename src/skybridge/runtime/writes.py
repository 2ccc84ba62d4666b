"""A batch's kv writes, staged in memory and flushed with one round trip per kv store.

Handler state, kv sink documents and window state of a batch are *staged* here (each a
version-guarded :class:`~.state.Guarded` document with the kv version it was read at) and
written at the end of the batch by :meth:`WriteSet.flush`: one
:meth:`~skybridge.backends.kv.base.KeyValueStore.write_batch` per kv store, so a batch costs
O(1) store round trips however many keys it touched. On stores with ``atomic_batch`` (sqlite,
redis, dynamodb per 100 items) the batch's state and sink documents commit together.

Order matters for stores without ``atomic_batch`` and for sinks and state on different
stores: documents are written in staging order, and the runtime stages sink documents before
handler state (see :mod:`.batch` for why that order makes a crash in between harmless).

A failed version guard means another writer changed a document this worker had cached: the
flush raises :class:`StaleDocuments` (a :class:`Conflict`), the caches are dropped and the
batch is processed again from the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from skybridge.backends.kv.base import BatchWrite, KeyValueStore
from skybridge.core.errors import Conflict
from skybridge.runtime.state import Guarded, GuardedStore


class StaleDocuments(Conflict):
    """A staged document's kv version changed under us; the batch must be redone."""


@dataclass(slots=True)
class _Staged:
    store: GuardedStore
    key: str
    doc: Guarded
    raw: bytes


class WriteSet:
    """Documents to write at the end of a batch, by store and key (last staging wins).

    A child set (:meth:`child`) sees its parent's staged documents and is merged into it only
    when the work staged into it succeeded, so a refused record leaves nothing behind.
    """

    def __init__(self, parent: WriteSet | None = None) -> None:
        self.parent = parent
        self._staged: dict[tuple[int, str], _Staged] = {}

    def __len__(self) -> int:
        return len(self._staged)

    def __iter__(self) -> Iterator[tuple[GuardedStore, str, Guarded]]:
        return ((s.store, s.key, s.doc) for s in self._staged.values())

    def child(self) -> WriteSet:
        return WriteSet(self)

    def merge(self, child: WriteSet) -> None:
        self._staged.update(child._staged)

    def pending(self, store: GuardedStore, key: str) -> Guarded | None:
        """The document staged for ``key`` of ``store`` here or in a parent, if any."""
        found = self._staged.get((id(store), key))
        if found is not None:
            return found.doc
        return None if self.parent is None else self.parent.pending(store, key)

    def stage(self, store: GuardedStore, key: str, doc: Guarded) -> None:
        """Write ``doc`` at ``key`` on flush, if the kv item is still at ``doc.version``.

        Encodes now, so a value that is not JSON fails here, at the record that made it.
        """
        self._staged[(id(store), key)] = _Staged(store, key, doc, doc.encode())

    def load(self, store: GuardedStore, keys: list[str]) -> dict[str, Guarded]:
        """Current documents: staged ones first, then the store's cache, then the store."""
        found: dict[str, Guarded] = {}
        rest: list[str] = []
        for key in keys:
            doc = self.pending(store, key)
            if doc is None:
                rest.append(key)
            else:
                found[key] = doc
        if rest:
            found.update(store.load_cached(rest))
        return found

    def flush(self) -> int:
        """Write everything staged: one ``write_batch`` per kv store, in staging order.

        Returns:
            The number of documents written.

        Raises:
            StaleDocuments: a document changed since it was read (caches are dropped).
        """
        by_kv: dict[int, tuple[KeyValueStore, list[_Staged]]] = {}
        for staged in self._staged.values():
            kv = staged.store.kv
            by_kv.setdefault(id(kv), (kv, []))[1].append(staged)
        for kv, items in by_kv.values():
            writes = [BatchWrite(s.store.prefix + s.key, s.raw, s.doc.version) for s in items]
            try:
                versions = kv.write_batch(writes)
            except Conflict as exc:
                for staged in self._staged.values():
                    staged.store.invalidate()
                raise StaleDocuments(str(exc), hint="the batch is processed again") from None
            written: dict[int, tuple[GuardedStore, dict[str, Guarded]]] = {}
            for staged, write in zip(items, writes, strict=True):
                staged.doc.version = versions[write.key]
                store = staged.store
                written.setdefault(id(store), (store, {}))[1][staged.key] = staged.doc
            for store, docs in written.values():
                store.remember(docs)
        count = len(self._staged)
        self._staged.clear()
        return count

"""The document registry: what is indexed, by document id, in the kv store.

Each entry records the content hash of the indexed version, the object's etag (to skip reading
unchanged objects), its source and chunk count. A chunk is *live* only while its ``doc_hash``
equals its document's entry: queries drop other chunks, so a replacement is atomic for
readers (new chunks are written, then the entry flips, then old chunks are deleted) and a
crash halfway leaves the old version in service.

The registry records the generation of the collection its entries were written for. One that
describes another generation (the collection was dropped and made again since), or that lists
documents while the collection holds no chunk, is emptied before anything is written (see
:meth:`DocumentRegistry.follow`), so every document is indexed again instead of being called
unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.vectors import CollectionInfo


@dataclass(frozen=True)
class DocumentEntry:
    """One indexed document."""

    id: str
    hash: str
    source: str
    title: str
    chunks: int
    etag: str = ""
    indexed_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DocumentRegistry:
    """Entries of one collection's documents."""

    def __init__(self, kv: KeyValueStore, collection: str) -> None:
        self.kv = kv
        self.prefix = f"rag/{collection}/doc/"
        self.generation_key = f"rag/{collection}/generation"

    def get(self, doc_id: str) -> DocumentEntry | None:
        found = self.kv.get_json(self.prefix + doc_id)
        return None if found is None else DocumentEntry(**found)

    def hashes(self, doc_ids: Iterable[str]) -> dict[str, str]:
        """Current content hash of each indexed document among ``doc_ids``."""
        keys = [self.prefix + d for d in dict.fromkeys(doc_ids)]
        found = self.kv.get_many(keys)
        out: dict[str, str] = {}
        for key, raw in found.items():
            out[key[len(self.prefix) :]] = json.loads(raw)["hash"]
        return out

    def put(self, entry: DocumentEntry) -> None:
        self.kv.put_json(self.prefix + entry.id, entry.to_dict())

    def remove(self, doc_id: str) -> None:
        self.kv.delete(self.prefix + doc_id)

    def entries(self, source: str | None = None) -> list[DocumentEntry]:
        """Every entry (of ``source`` only, when given), by id."""
        found = [
            DocumentEntry(**json.loads(item.value)) for item in self.kv.scan_prefix(self.prefix)
        ]
        return [e for e in found if source is None or e.source == source]

    def clear(self) -> int:
        keys = list(self.kv.keys(self.prefix))
        self.kv.delete_many(keys)
        return len(keys)

    def has_entries(self) -> bool:
        return next(self.kv.keys(self.prefix, limit=1), None) is not None

    def follow(self, collection: CollectionInfo, *, had_entries: bool) -> bool:
        """Make the registry describe ``collection`` as it is now; whether it was emptied.

        It is emptied when it was written for another generation of the collection, or (when
        it records none) when it had entries (``had_entries``, looked at before
        ``collection`` was) while the collection holds no chunk: an entry is written only
        after its chunks, so its chunks were dropped since.
        """
        found = self.kv.get(self.generation_key)
        bound = None if found is None else found.decode()
        if bound == collection.generation:
            return False
        stale = bound is not None or (had_entries and collection.count == 0)
        if stale:
            self.clear()
        self.kv.put(self.generation_key, collection.generation.encode())
        return stale

"""The document registry: what is indexed, by document id, in the kv store.

Each entry records the content hash of the indexed version, the object's etag (to skip reading
unchanged objects), its source and chunk count. A chunk is *live* only while its ``doc_hash``
equals its document's entry: queries drop other chunks, so a replacement is atomic for
readers (new chunks are written, then the entry flips, then old chunks are deleted) and a
crash halfway leaves the old version in service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from skybridge.backends.kv import KeyValueStore


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

"""The document registry: what is indexed, by document id, in the kv store.

Each entry records the content hash of the indexed version, the object's etag (to skip reading
unchanged objects), its source and chunk count. A chunk is *live* only while its ``doc_hash``
equals its document's entry: queries drop other chunks, so a replacement is atomic for
readers (new chunks are written, then the entry flips, then old chunks are deleted) and a
crash halfway leaves the old version in service.

The registry records the generation of the collection its entries were written for. One that
describes another generation (the collection was dropped and made again since) is emptied
before anything is written (see :meth:`DocumentRegistry.follow`), so every document is indexed
again instead of being called unchanged. One written before generations were recorded is bound
to the collection as it is, unless its chunks are gone for certain: the collection says it
holds none *and* the first chunk of an entry is not there (a count alone can be wrong: pgvector
collections made before they kept one said 0 while holding every chunk).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.vectors import CollectionInfo, VectorStore


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

    def chunk_id(self, n: int) -> str:
        """Chunk ids name the document version, so a new version never overwrites the old."""
        return f"{self.id}#{self.hash[:12]}#{n}"


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
        return [e for e in self._each() if source is None or e.source == source]

    def _each(self) -> Iterator[DocumentEntry]:
        """The entries by id, read as they are scanned."""
        for item in self.kv.scan_prefix(self.prefix):
            yield DocumentEntry(**json.loads(item.value))

    def clear(self) -> int:
        keys = list(self.kv.keys(self.prefix))
        self.kv.delete_many(keys)
        return len(keys)

    def has_entries(self) -> bool:
        return next(self.kv.keys(self.prefix, limit=1), None) is not None

    def follow(
        self, vectors: VectorStore, collection: CollectionInfo, *, had_entries: bool
    ) -> bool:
        """Make the registry describe ``collection`` (of ``vectors``) as it is now; whether it
        was emptied.

        It is emptied when it was written for another generation of the collection. One that
        records none (written before generations were) is emptied only when it had entries
        (``had_entries``, looked at before ``collection`` was) whose chunks are gone; else it
        is bound to this generation as it stands.
        """
        found = self.kv.get(self.generation_key)
        bound = None if found is None else found.decode()
        if bound == collection.generation:
            return False
        stale = bound is not None or (had_entries and self._chunks_gone(vectors, collection))
        if stale:
            self.clear()
        self.kv.put(self.generation_key, collection.generation.encode())
        return stale

    def _chunks_gone(self, vectors: VectorStore, collection: CollectionInfo) -> bool:
        """Whether ``collection`` lost the chunks of the entries: it counts none, and the first
        chunk of an entry is not there (an entry is written only after its chunks, and removed
        before them). Its count alone is not trusted: it can read 0 while holding chunks."""
        if collection.count > 0:
            return False
        entry = next((e for e in self._each() if e.chunks > 0), None)
        return entry is not None and not vectors.get(collection.name, [entry.chunk_id(0)])

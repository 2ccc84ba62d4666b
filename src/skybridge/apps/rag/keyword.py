"""BM25 over a collection's chunk texts (``bm25s`` tokenizing with Snowball English stemming).

The index is built from the vector store's records (each chunk keeps its text in metadata) and
held per process, so any vector store gets keyword search and both rankings see the same
chunks. It is keyed on the collection's (generation, revision): a collection dropped and made
again can reach the revision the old one had, and its generation tells them apart. When the
key changes, the index catches up from the store's change feed (the chunks written and deleted
since the revision it holds, :meth:`~skybridge.backends.vectors.VectorStore.changes`) or, when
the store cannot tell (no feed, another generation), by reading every record and comparing it
with what is held. Either way only chunks whose text is new are tokenized (a chunk whose text
some held chunk already has, such as the unchanged chunks of a replaced document, reuses its
terms), and only added and removed chunks touch the BM25 statistics
(:mod:`skybridge.apps.rag.bm25`). Scores equal those of a fresh ``bm25s`` index of the same
chunks. Filters apply before ranking; ties rank by chunk id.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from skybridge.apps.rag.bm25 import Bm25, Row
from skybridge.backends.vectors import Changes, Filter, Match, VectorRecord, VectorStore
from skybridge.core.errors import MissingDependency

_LOCK = threading.Lock()
#: Records read per page when catching up with the store.
PAGE_SIZE = 5000


def _libraries() -> tuple[Any, Any]:
    try:
        import bm25s
        import Stemmer

        logging.getLogger("bm25s").setLevel(logging.WARNING)
    except ImportError as exc:
        raise MissingDependency(exc.name or "bm25s", "rag", feature="keyword search") from exc
    return bm25s, Stemmer.Stemmer("english")


def tokenize(texts: list[str]) -> tuple[list[list[int]], dict[str, int]]:
    """Each text's stems (stop words removed) as ids into the returned stem vocabulary."""
    bm25s, stemmer = _libraries()
    found = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    return list(found.ids), dict(found.vocab)


def query_terms(query: str) -> list[str]:
    """The stems of a query, in order, as chunks are tokenized."""
    bm25s, stemmer = _libraries()
    found = bm25s.tokenize(
        [query], stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
    )
    return list(found[0])


@dataclass
class Refresh:
    """What one catch-up with the store changed, and how many records it read."""

    added: int = 0
    removed: int = 0
    tokenized: int = 0
    read: int = 0


def _text(metadata: dict[str, Any]) -> str:
    return str(metadata.get("text", ""))


@dataclass
class KeywordIndex:
    """BM25 scores of a collection's chunks, kept up to date with its generation and revision."""

    generation: str | None = None
    revision: int | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: A held chunk of each text, to reuse its terms for another chunk of the same text.
    by_text: dict[str, str] = field(default_factory=dict)
    bm25: Bm25 = field(default_factory=Bm25)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def refresh(self, store: VectorStore, collection: str) -> Refresh:
        """Catch up with the collection's records if its generation or revision changed: from
        the store's change feed when it can tell, else by reading every record."""
        with self.lock:
            info = store.collection(collection)
            if (info.generation, info.revision) == (self.generation, self.revision):
                return Refresh()
            if info.generation == self.generation and self.revision is not None:
                changes = store.changes(collection, self.revision, generation=info.generation)
                if changes is not None:
                    done = self.apply_changes(changes)
                    self.revision = changes.revision
                    return done
            done = self.apply(store.scan(collection, page_size=PAGE_SIZE))
            self.generation, self.revision = info.generation, info.revision
            return done

    def apply(self, records: Iterable[VectorRecord]) -> Refresh:
        """Make the index hold exactly ``records``, tokenizing only texts it does not hold."""
        with self.lock:
            seen: set[str] = set()

            def counted() -> Iterator[VectorRecord]:
                for record in records:
                    seen.add(record.id)
                    yield record

            fresh = self._fresh(counted())
            return self._update(fresh, [key for key in self.metadata if key not in seen], len(seen))

    def apply_changes(self, changes: Changes) -> Refresh:
        """Apply what changed since the revision the index holds."""
        with self.lock:
            written = {r.id for r in changes.upserted}
            fresh = self._fresh(changes.upserted)
            gone = [key for key in changes.deleted if key in self.metadata and key not in written]
            read = len(changes.upserted) + len(changes.deleted)
            return self._update(fresh, gone, read)

    def _fresh(self, records: Iterable[VectorRecord]) -> list[VectorRecord]:
        """The records whose text the index does not hold under their id (the metadata of the
        others is taken as it is now)."""
        held = self.metadata
        fresh: list[VectorRecord] = []
        for record in records:
            old = held.get(record.id)
            if old is None or _text(old) != _text(record.metadata):
                fresh.append(record)
            elif old != record.metadata:
                held[record.id] = record.metadata
        return fresh

    def _update(self, fresh: list[VectorRecord], gone: list[str], read: int) -> Refresh:
        """Forget ``gone`` and add (or replace) ``fresh``."""
        held = self.metadata
        rows, tokenized = self._rows(fresh)
        self._forget(gone + [r.id for r in fresh if r.id in held])
        self.bm25.add([r.id for r in fresh], rows)
        for record in fresh:
            held[record.id] = record.metadata
            self.by_text.setdefault(_text(record.metadata), record.id)
        return Refresh(len(fresh), len(gone), tokenized, read)

    def _forget(self, keys: list[str]) -> None:
        self.bm25.remove(keys)
        for key in keys:
            text = _text(self.metadata.pop(key))
            if self.by_text.get(text) == key:
                del self.by_text[text]

    def _rows(self, records: list[VectorRecord]) -> tuple[list[Row], int]:
        """The terms of each record (reused from a held chunk of the same text, or tokenized
        now), and how many texts were tokenized."""
        texts = [_text(r.metadata) for r in records]
        new = list(dict.fromkeys(t for t in texts if t not in self.by_text))
        terms = self._tokenized(new)
        rows = [terms[t] if t in terms else self.bm25.row(self.by_text[t]) for t in texts]
        return rows, len(new)

    def _tokenized(self, texts: list[str]) -> dict[str, Row]:
        if not texts:
            return {}
        ids, vocabulary = tokenize(texts)
        stems = sorted(vocabulary, key=vocabulary.__getitem__)
        mapping = self.bm25.term_ids(stems)
        return {
            text: (mapping[np.asarray(doc, dtype=np.int64)], np.ones(len(doc), dtype=np.float32))
            for text, doc in zip(texts, ids, strict=True)
        }

    def scores(self, query: str) -> dict[str, float]:
        """Every chunk scoring above 0 for ``query``, with its score."""
        with self.lock:
            keys, scores = self.bm25.scores(query_terms(query))
        return dict(zip(keys, scores.tolist(), strict=True))

    def search(self, query: str, k: int, flt: Filter) -> list[Match]:
        """The ``k`` best chunks for ``query`` among those matching ``flt`` (score > 0), best
        first, ties by chunk id."""
        terms = query_terms(query)
        if not terms:
            return []
        with self.lock:
            keys, scores = self.bm25.scores(terms)
            metadata = [self.metadata[key] for key in keys]
        if flt:
            allowed = np.fromiter((flt.matches(m) for m in metadata), bool, len(keys))
            picked = np.flatnonzero(allowed)
        else:
            picked = np.arange(len(keys))
        if len(picked) > k:
            # every chunk tied with the k-th best, so ties are broken by id, not by position
            threshold = np.partition(scores[picked], len(picked) - k)[len(picked) - k]
            picked = picked[scores[picked] >= threshold]
        order = sorted(picked.tolist(), key=lambda i: (-scores[i], keys[i]))[:k]
        return [Match(keys[i], float(scores[i]), metadata[i]) for i in order]


_INDEXES: weakref.WeakKeyDictionary[VectorStore, dict[str, KeywordIndex]] = (
    weakref.WeakKeyDictionary()
)


def keyword_index(store: VectorStore, collection: str) -> KeywordIndex:
    """The BM25 index of ``collection``, caught up with its current generation and revision."""
    with _LOCK:
        found = _INDEXES.setdefault(store, {}).setdefault(collection, KeywordIndex())
    found.refresh(store, collection)
    return found

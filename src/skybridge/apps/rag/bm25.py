"""BM25 over rows that come and go, scored as a fresh ``bm25s`` index of the same rows would.

``bm25s`` stores every (row, term) weight with the corpus's IDF and average length folded in, so
any added or removed row means indexing everything again. Here rows keep their raw term counts
in a few sparse segments (scipy CSR/CSC), and the document frequencies, row count and total
length are kept up to date as rows come and go. A query computes the weights of its own terms
only, with the current statistics, in the arithmetic of ``bm25s`` (its ``lucene`` method, k1 1.5,
b 0.75, float32 weights summed in query-term order), so the scores equal those of a fresh
``bm25s`` index of the live rows.

Adding rows writes a new segment of just those rows; removing one marks it dead and takes its
terms out of the statistics. Segments are merged like a binary counter (a segment at least
half the size of the one before it merges into it) and rewritten when most of their rows are
dead, so each row is copied O(log n) times over its life and an update costs in proportion to
what changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

K1 = 1.5
B = 0.75
#: One row's terms: (term ids, counts); an id may repeat (its counts are added).
Row = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
_EMPTY_IDS: npt.NDArray[np.int64] = np.zeros(0, np.int64)
_EMPTY_COUNTS: npt.NDArray[np.float32] = np.zeros(0, np.float32)


class _Segment:
    """Rows written together: term counts by row (CSR) and by term (CSC), and which are live."""

    def __init__(self, keys: list[str], counts: Any) -> None:
        self.keys = keys
        self.rows = sp.csr_matrix(counts, dtype=np.float32)
        self.rows.sum_duplicates()
        self.postings = self.rows.tocsc()
        self.lengths = np.asarray(self.rows.sum(axis=1), dtype=np.int64).ravel()
        self.live = np.ones(len(keys), dtype=bool)
        self.alive = len(keys)

    def row(self, position: int) -> Row:
        start, end = self.rows.indptr[position], self.rows.indptr[position + 1]
        ids = self.rows.indices[start:end].astype(np.int64)
        return ids, self.rows.data[start:end].copy()

    def terms(self, position: int) -> npt.NDArray[np.int32]:
        start, end = self.rows.indptr[position], self.rows.indptr[position + 1]
        found: npt.NDArray[np.int32] = self.rows.indices[start:end]
        return found

    def live_counts(self, width: int) -> Any:
        picked = self.rows[np.flatnonzero(self.live)]
        picked.resize((picked.shape[0], width))
        return picked


def _matrix(rows: Sequence[Row], width: int) -> Any:
    sizes = [len(ids) for ids, _ in rows]
    cols = np.concatenate([ids for ids, _ in rows]) if rows else _EMPTY_IDS
    data = np.concatenate([counts for _, counts in rows]) if rows else _EMPTY_COUNTS
    index = np.repeat(np.arange(len(rows), dtype=np.int64), sizes)
    return sp.coo_matrix((data, (index, cols)), shape=(len(rows), width), dtype=np.float32)


class Bm25:
    """Rows (by key) with their term counts; :meth:`scores` ranks them for a query."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.df = np.zeros(0, dtype=np.int64)
        self.segments: list[_Segment] = []
        self.where: dict[str, tuple[_Segment, int]] = {}
        self.total_length = 0

    def __len__(self) -> int:
        return len(self.where)

    def __contains__(self, key: object) -> bool:
        return key in self.where

    def term_ids(self, terms: Iterable[str]) -> npt.NDArray[np.int64]:
        """Ids of ``terms``, new terms added to the vocabulary."""
        vocabulary = self.vocabulary
        ids = [vocabulary.setdefault(t, len(vocabulary)) for t in terms]
        if len(vocabulary) > len(self.df):
            grown = np.zeros(max(len(vocabulary), 2 * len(self.df)), dtype=np.int64)
            grown[: len(self.df)] = self.df
            self.df = grown
        return np.asarray(ids, dtype=np.int64)

    def row(self, key: str) -> Row:
        """The term ids and counts of the row ``key`` (to add them again under another key)."""
        segment, position = self.where[key]
        return segment.row(position)

    def add(self, keys: list[str], rows: Sequence[Row]) -> None:
        """Add rows under new keys (``remove`` a key first to replace it)."""
        if not keys:
            return
        segment = _Segment(keys, _matrix(rows, len(self.vocabulary)))
        for position, key in enumerate(keys):
            if key in self.where:
                raise ValueError(f"row {key!r} is already indexed")
            self.where[key] = (segment, position)
        np.add.at(self.df, segment.rows.indices, 1)
        self.total_length += int(segment.lengths.sum())
        self.segments.append(segment)
        self._balance()

    def remove(self, keys: Iterable[str]) -> None:
        """Remove rows; unknown keys are ignored."""
        for key in keys:
            found = self.where.pop(key, None)
            if found is None:
                continue
            segment, position = found
            segment.live[position] = False
            segment.alive -= 1
            self.df[segment.terms(position)] -= 1
            self.total_length -= int(segment.lengths[position])
        self._balance()

    def scores(self, terms: Sequence[str]) -> tuple[list[str], npt.NDArray[np.float32]]:
        """Keys of the rows scoring above 0 for a query of ``terms`` (stems, in query order,
        repeats counting again), with their scores."""
        known = [self.vocabulary[t] for t in terms if t in self.vocabulary]
        query = [t for t in known if self.df[t] > 0]
        if not query:
            return [], np.zeros(0, dtype=np.float32)
        count = len(self.where)
        average = np.float64(self.total_length / count)
        weights = {t: np.float32(_idf(int(self.df[t]), count)) for t in set(query)}
        keys: list[str] = []
        found: list[npt.NDArray[np.float32]] = []
        for segment in self.segments:
            scores = _segment_scores(segment, query, weights, average)
            hit = np.flatnonzero((scores > 0) & segment.live)
            keys += [segment.keys[i] for i in hit]
            found.append(scores[hit])
        return keys, np.concatenate(found)

    def _balance(self) -> None:
        """Drop empty segments, rewrite mostly dead ones, merge a segment into the one before
        it while it is at least half that one's size."""
        kept = []
        for segment in self.segments:
            if segment.alive == 0:
                continue
            if segment.alive * 2 < len(segment.keys):
                segment = self._merge([segment])
            kept.append(segment)
        self.segments = kept
        while len(kept) > 1 and kept[-1].alive * 2 >= kept[-2].alive:
            kept[-2:] = [self._merge(kept[-2:])]

    def _merge(self, parts: list[_Segment]) -> _Segment:
        width = len(self.vocabulary)
        keys = [s.keys[i] for s in parts for i in np.flatnonzero(s.live)]
        merged = _Segment(keys, sp.vstack([s.live_counts(width) for s in parts], format="csr"))
        for position, key in enumerate(keys):
            self.where[key] = (merged, position)
        return merged


def _idf(df: int, count: int) -> float:
    """Lucene's IDF, as ``bm25s`` computes it (in double precision, stored as float32)."""
    return math.log(1 + (count - df + 0.5) / (df + 0.5))


def _segment_scores(
    segment: _Segment,
    query: list[int],
    idf: dict[int, np.float32],
    average: np.float64,
) -> npt.NDArray[np.float32]:
    """One segment's scores, each term's float32 weights added in query order (as bm25s)."""
    postings = segment.postings
    width = postings.shape[1]
    scores = np.zeros(len(segment.keys), dtype=np.float32)
    for term in query:
        if term >= width:
            continue
        start, end = postings.indptr[term], postings.indptr[term + 1]
        if start == end:
            continue
        rows = postings.indices[start:end]
        tf = postings.data[start:end]
        lengths = segment.lengths[rows]
        tfc = tf / (K1 * ((1 - B) + B * lengths / average) + tf)
        scores[rows] += (idf[term] * tfc).astype(np.float32)
    return scores

"""The vectors of one collection held in memory: a growing matrix, ids, metadata, filter masks.

Positions are append-only: an upsert of a known id kills its old position and appends a new
one, a delete kills it; :meth:`Vectors.compact` rebuilds the arrays when most are dead.
Metadata filters become boolean masks over positions through per-field value indexes (for
``eq``/``in``) and sorted columns (for ranges), built on first use and dropped on any write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from skybridge.backends.vectors.base import Match, Metric, Vector
from skybridge.backends.vectors.filters import Condition, Eq, Filter, In, Range

Mask = npt.NDArray[np.bool_]
Positions = npt.NDArray[np.int64]


def _value_key(value: Any) -> tuple[str, Any]:
    """A key under which JSON-equal values meet (``1`` and ``1.0``; never ``True`` and ``1``)."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", float(value))
    if value is None:
        return ("z", None)
    return ("s", value)


@dataclass
class FieldIndex:
    """One metadata field: positions by value, and sorted numeric and text columns."""

    by_value: dict[tuple[str, Any], list[int]] = field(default_factory=dict)
    numbers: tuple[npt.NDArray[np.float64], Positions] | None = None
    texts: tuple[npt.NDArray[np.str_], Positions] | None = None


class Vectors:
    """A collection's live records, searchable exactly and by filter mask."""

    def __init__(self, dimension: int, metric: Metric) -> None:
        self.dimension = dimension
        self.metric = metric
        self.matrix: Vector = np.zeros((64, dimension), dtype=np.float32)
        self.norms: npt.NDArray[np.float32] = np.zeros(64, dtype=np.float32)
        self.live: Mask = np.zeros(64, dtype=bool)
        self.keys: Positions = np.zeros(64, dtype=np.int64)
        self.ids: list[str] = []
        self.metadata: list[dict[str, Any]] = []
        self.position: dict[str, int] = {}
        self.by_key: dict[int, int] = {}
        self._fields: dict[str, FieldIndex] = {}

    @property
    def size(self) -> int:
        return len(self.position)

    def prepare(self, vector: Vector) -> Vector:
        """The stored form of ``vector``: unit length for cosine."""
        if self.metric != "cosine":
            return vector
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector

    def put(self, key: int, rid: str, vector: Vector, metadata: dict[str, Any]) -> None:
        """Insert or replace ``rid`` (its SQLite row ``key``)."""
        self.remove(rid)
        n = len(self.ids)
        if n == len(self.live):
            self._grow(max(64, n * 2))
        stored = self.prepare(vector)
        self.matrix[n] = stored
        self.norms[n] = float(stored @ stored)
        self.live[n] = True
        self.keys[n] = key
        self.ids.append(rid)
        self.metadata.append(metadata)
        self.position[rid] = n
        self.by_key[key] = n
        self._fields.clear()

    def remove(self, rid: str) -> int | None:
        """Kill ``rid``'s position; its row key, or ``None`` if it was not held."""
        n = self.position.pop(rid, None)
        if n is None:
            return None
        self.live[n] = False
        key = int(self.keys[n])
        self.by_key.pop(key, None)
        self._fields.clear()
        return key

    def remove_key(self, key: int) -> None:
        n = self.by_key.get(key)
        if n is not None:
            self.remove(self.ids[n])

    def _grow(self, capacity: int) -> None:
        used = len(self.ids)
        matrix = np.zeros((capacity, self.dimension), dtype=np.float32)
        matrix[:used] = self.matrix[:used]
        self.matrix = matrix
        for name, dtype in (("norms", np.float32), ("live", bool), ("keys", np.int64)):
            old = getattr(self, name)
            grown = np.zeros(capacity, dtype=dtype)
            grown[:used] = old[:used]
            setattr(self, name, grown)

    def compact(self) -> None:
        """Drop dead positions when they are most of the arrays."""
        used = len(self.ids)
        if used < 1024 or self.size * 2 > used:
            return
        keep = np.flatnonzero(self.live[:used])
        ids = [self.ids[i] for i in keep]
        metadata = [self.metadata[i] for i in keep]
        matrix, keys = self.matrix[keep], self.keys[keep]
        self.__init__(self.dimension, self.metric)  # type: ignore[misc]
        for n, rid in enumerate(ids):
            self.put(int(keys[n]), rid, matrix[n], metadata[n])

    # -- filters ------------------------------------------------------------------------------

    def mask(self, flt: Filter) -> Mask:
        """Live positions matching ``flt``."""
        used = len(self.ids)
        mask = self.live[:used].copy()
        for condition in flt.conditions:
            mask &= self._condition_mask(condition, used)
        return mask

    def _condition_mask(self, condition: Condition, used: int) -> Mask:
        index = self._field(condition.field)
        out = np.zeros(used, dtype=bool)
        if isinstance(condition, Eq | In):
            values = (condition.value,) if isinstance(condition, Eq) else condition.values
            for value in values:
                out[index.by_value.get(_value_key(value), [])] = True
            return out
        column = index.numbers if condition.numeric else index.texts
        if column is None:
            return out
        out[_range_positions(column, condition)] = True
        return out

    def _field(self, name: str) -> FieldIndex:
        found = self._fields.get(name)
        if found is None:
            found = self._fields[name] = self._build_field(name)
        return found

    def _build_field(self, name: str) -> FieldIndex:
        index = FieldIndex()
        numbers: list[tuple[float, int]] = []
        texts: list[tuple[str, int]] = []
        for n, metadata in enumerate(self.metadata):
            if not self.live[n] or name not in metadata:
                continue
            value = metadata[name]
            index.by_value.setdefault(_value_key(value), []).append(n)
            if isinstance(value, int | float) and not isinstance(value, bool):
                numbers.append((float(value), n))
            elif isinstance(value, str):
                texts.append((value, n))
        numbers.sort()
        texts.sort()
        index.numbers = (
            np.array([v for v, _ in numbers], dtype=np.float64),
            np.array([n for _, n in numbers], dtype=np.int64),
        )
        index.texts = (
            np.array([v for v, _ in texts], dtype=str),
            np.array([n for _, n in texts], dtype=np.int64),
        )
        return index

    # -- search -------------------------------------------------------------------------------

    def scores(self, positions: Positions, query: Vector) -> npt.NDArray[np.float32]:
        """Higher-is-better scores of ``positions`` against the prepared ``query``."""
        used = len(self.ids)
        if 4 * len(positions) >= used:
            # most rows: one pass over the contiguous matrix (a view) beats gathering a copy
            dots = (self.matrix[:used] @ query)[positions]
        else:
            dots = self.matrix[positions] @ query
        if self.metric != "l2":
            return dots
        squared = self.norms[positions] - 2 * dots + float(query @ query)
        return -np.sqrt(np.maximum(squared, 0.0))

    def exact(self, positions: Positions, query: Vector, k: int) -> list[Match]:
        """The ``k`` best of ``positions`` by exact score."""
        if len(positions) == 0:
            return []
        scores = self.scores(positions, query)
        if len(positions) > k:
            top = np.argpartition(-scores, k - 1)[:k]
        else:
            top = np.arange(len(positions))
        order = top[np.argsort(-scores[top], kind="stable")]
        return [self.match(int(positions[i]), float(scores[i])) for i in order]

    def match(self, n: int, score: float) -> Match:
        return Match(self.ids[n], score, dict(self.metadata[n]))


def _range_positions(column: tuple[Any, Positions], condition: Range) -> Positions:
    values, positions = column
    lo, hi = 0, len(positions)
    for op, bound in condition.bounds():
        if op in ("gt", "gte"):
            side = "right" if op == "gt" else "left"
            lo = max(lo, int(np.searchsorted(values, bound, side=side)))  # type: ignore[call-overload]
        else:
            side = "left" if op == "lt" else "right"
            hi = min(hi, int(np.searchsorted(values, bound, side=side)))  # type: ignore[call-overload]
    return positions[lo:hi] if lo < hi else positions[:0]

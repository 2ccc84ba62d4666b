"""The vector store contract: collections of (id, vector, metadata) with filtered top-k search.

An implementation provides the primitives below; :class:`VectorStore` validates everything
first and derives the rest (``ensure_collection``, ``delete_where``, ``query_many``...). The
rules every store keeps:

* A *collection* (namespace) has a fixed ``dimension``, a ``metric`` (``cosine``, ``dot`` or
  ``l2``) and string ``properties`` (e.g. the fingerprint of the model that made the vectors),
  plus a ``revision`` that grows with every write and a ``generation`` that changes when the
  collection is dropped and made again: together they are the cache key of derived indexes (a
  collection made again can reach the revision the old one had).
* Stores with the ``changes`` capability tell what changed since a revision
  (:meth:`VectorStore.changes`), so a derived index catches up without reading every record.
* Ids are unique per collection; ``upsert`` replaces a record whole; ``delete`` of an absent
  id is no error.
* ``query`` returns the ``k`` best matches (fewer only if fewer records match the filter),
  best first; ``score`` is higher-is-better: cosine similarity, the dot product, or the
  negated Euclidean distance. A filter never makes a query return fewer than ``k`` when ``k``
  records match it: stores whose index filters after the scan keep scanning (pgvector's
  iterative scans) or fall back to exact search.
* Metadata values are JSON scalars or dates (see :mod:`skybridge.backends.vectors.filters`).
"""

from __future__ import annotations

import json
import re
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from skybridge.backends.vectors.filters import Filter, canonical, check_field
from skybridge.core.backend import Backend
from skybridge.core.errors import Conflict, NotFound, ValidationError
from skybridge.core.observability import observe_call

Metric = Literal["cosine", "dot", "l2"]
METRICS: tuple[Metric, ...] = ("cosine", "dot", "l2")
Vector = npt.NDArray[np.float32]
#: What callers may pass as a vector.
VectorLike = Vector | npt.NDArray[np.float64] | Sequence[float]
_COLLECTION = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
MAX_ID_CHARS = 512
MAX_DIMENSION = 16_000


@dataclass(frozen=True)
class CollectionInfo:
    """A collection's fixed shape, its properties, size, write revision and generation.

    ``generation`` is an opaque text that changes when the collection is dropped and made
    again (empty for an OpenSearch collection made before generations were recorded).
    """

    name: str
    dimension: int
    metric: Metric
    properties: dict[str, str] = field(default_factory=dict)
    count: int = 0
    revision: int = 0
    generation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dimension": self.dimension,
            "metric": self.metric,
            "properties": dict(self.properties),
            "count": self.count,
            "revision": self.revision,
            "generation": self.generation,
        }


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One stored item. ``vector`` is ``None`` when a scan was asked not to load vectors."""

    id: str
    vector: VectorLike | None = field(repr=False, compare=False)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match:
    """A query result: higher ``score`` is better."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed in a collection after a revision, up to ``revision``.

    ``upserted`` holds the current record (metadata, no vector) of every id written after that
    revision and present now; ``deleted`` every id removed after it and absent now (the two
    never share an id). Records as they were at the earlier revision, with these applied, are
    the records at ``revision``.
    """

    revision: int
    upserted: list[VectorRecord] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


class VectorStore(Backend):
    """Collections of vectors with metadata, upserts, deletes and filtered top-k queries.

    Capabilities: ``filters`` (every store), ``persistent`` (data survives the process),
    ``ann`` (an approximate index serves large collections), ``changes`` (:meth:`changes`
    can tell what changed since a revision).
    """

    capabilities: ClassVar[frozenset[str]] = frozenset({"filters"})
    scheme: ClassVar[str] = "vectors"
    #: Largest JSON size of one record's metadata.
    max_metadata_bytes: ClassVar[int] = 64 * 1024
    #: Records written per ``_upsert`` call.
    batch_size: ClassVar[int] = 1000

    # -- primitives ---------------------------------------------------------------------------

    @abstractmethod
    def _create(self, info: CollectionInfo) -> None:
        """Create the collection; raise :class:`Conflict` if it exists."""

    @abstractmethod
    def _describe(self, name: str) -> CollectionInfo | None:
        """The collection with its current count and revision, or ``None``."""

    @abstractmethod
    def _names(self) -> list[str]:
        """Names of every collection, sorted."""

    @abstractmethod
    def _drop(self, name: str) -> bool:
        """Remove the collection and its records; ``False`` if it did not exist."""

    @abstractmethod
    def _set_properties(self, name: str, properties: dict[str, str]) -> None:
        """Replace the collection's properties."""

    @abstractmethod
    def _upsert(self, name: str, records: list[VectorRecord]) -> None:
        """Insert or replace ``records`` (distinct ids, validated) in one transaction."""

    @abstractmethod
    def _delete(self, name: str, ids: list[str]) -> int:
        """Remove ``ids`` (distinct); how many existed."""

    @abstractmethod
    def _get(self, name: str, ids: list[str]) -> list[VectorRecord]:
        """Stored records for ``ids`` (with vectors), absent ones left out, in any order."""

    @abstractmethod
    def _scan(
        self, name: str, flt: Filter, after: str | None, limit: int, vectors: bool
    ) -> list[VectorRecord]:
        """Up to ``limit`` records matching ``flt`` with ids after ``after``, in id order."""

    @abstractmethod
    def _query(self, name: str, vector: Vector, k: int, flt: Filter) -> list[Match]:
        """The ``k`` best matches for ``vector`` among records matching ``flt``, best first."""

    @abstractmethod
    def _count(self, name: str, flt: Filter) -> int:
        """How many records match ``flt``."""

    def _changes(self, name: str, since: int, generation: str) -> Changes | None:
        """What changed in ``name`` after revision ``since`` of ``generation`` (stores with the
        ``changes`` capability), or ``None`` when the store cannot tell; raise
        :class:`NotFound` if the collection does not exist."""
        return None

    def flush(self) -> None:
        """Persist derived indexes now (stores that save them lazily do it on close too)."""

    # -- collections --------------------------------------------------------------------------

    def create_collection(
        self,
        name: str,
        dimension: int,
        *,
        metric: Metric = "cosine",
        properties: Mapping[str, str] | None = None,
    ) -> CollectionInfo:
        """Create a collection.

        Raises:
            Conflict: it exists already.
            ValidationError: a bad name, dimension, metric or property.
        """
        info = CollectionInfo(
            check_collection(name),
            _check_dimension(dimension),
            _check_metric(metric),
            _check_properties(properties or {}),
        )
        with self._observe("create_collection"):
            self._create(info)
        return self.collection(name)

    def ensure_collection(
        self,
        name: str,
        dimension: int,
        *,
        metric: Metric = "cosine",
        properties: Mapping[str, str] | None = None,
    ) -> CollectionInfo:
        """The collection, created if absent; an existing one must have the same shape.

        ``properties`` given here must equal the stored ones of the same keys (a collection
        indexed with one embedding model refuses another, even of the same dimension).

        Raises:
            Conflict: the existing collection has another dimension, metric or property.
        """
        found = self.describe(name)
        if found is None:
            try:
                return self.create_collection(name, dimension, metric=metric, properties=properties)
            except Conflict:
                found = self.collection(name)
        check_compatible(found, dimension, metric, properties or {})
        return found

    def describe(self, name: str) -> CollectionInfo | None:
        """The collection, or ``None`` if it does not exist."""
        with self._observe("describe"):
            return self._describe(check_collection(name))

    def collection(self, name: str) -> CollectionInfo:
        """The collection.

        Raises:
            NotFound: no such collection.
        """
        found = self.describe(name)
        if found is None:
            raise NotFound(
                f"vector collection {name!r} does not exist",
                hint="create it first (for an app: ingest something into it)",
            )
        return found

    def list_collections(self) -> list[CollectionInfo]:
        """Every collection, by name."""
        with self._observe("list_collections"):
            names = self._names()
        return [info for n in names if (info := self._describe(n)) is not None]

    def drop_collection(self, name: str) -> bool:
        """Remove a collection and all its records; ``False`` if there was none."""
        with self._observe("drop_collection"):
            return self._drop(check_collection(name))

    def set_properties(self, name: str, properties: Mapping[str, str]) -> CollectionInfo:
        """Merge ``properties`` into the collection's (an empty value removes a key)."""
        current = self.collection(name).properties
        merged = {**current, **_check_properties(properties, allow_empty=True)}
        with self._observe("set_properties"):
            self._set_properties(name, {k: v for k, v in merged.items() if v})
        return self.collection(name)

    # -- records ------------------------------------------------------------------------------

    def upsert(self, name: str, records: Iterable[VectorRecord]) -> int:
        """Insert or replace records; returns how many were written.

        Each batch of ``batch_size`` is one transaction; all are validated before any write.

        Raises:
            NotFound: no such collection.
            ValidationError: a bad id (or one given twice), vector or metadata value.
        """
        info = self.collection(name)
        checked = self._checked_records(info, records)
        with self._observe("upsert"):
            for start in range(0, len(checked), self.batch_size):
                self._upsert(name, checked[start : start + self.batch_size])
        return len(checked)

    def delete(self, name: str, ids: Iterable[str]) -> int:
        """Remove records by id; returns how many existed."""
        wanted = list(dict.fromkeys(check_id(i) for i in ids))
        self.collection(name)
        if not wanted:
            return 0
        with self._observe("delete"):
            return sum(
                self._delete(name, wanted[s : s + self.batch_size])
                for s in range(0, len(wanted), self.batch_size)
            )

    def delete_where(self, name: str, flt: Filter | Mapping[str, Any]) -> int:
        """Remove every record matching a non-empty filter; returns how many."""
        parsed = Filter.parse(flt)
        if not parsed:
            raise ValidationError("delete_where needs a filter; drop the collection instead")
        ids = [r.id for r in self.scan(name, parsed)]
        return self.delete(name, ids)

    def get(self, name: str, ids: Iterable[str]) -> list[VectorRecord]:
        """Records by id, in the order asked; absent ids are left out."""
        wanted = list(dict.fromkeys(check_id(i) for i in ids))
        self.collection(name)
        with self._observe("get"):
            found = {r.id: r for r in self._get(name, wanted)} if wanted else {}
        return [found[i] for i in wanted if i in found]

    def scan(
        self,
        name: str,
        flt: Filter | Mapping[str, Any] | None = None,
        *,
        vectors: bool = False,
        page_size: int = 1000,
    ) -> Iterator[VectorRecord]:
        """Records matching ``flt`` in id order, page by page (vectors only when asked)."""
        parsed = Filter.parse(flt)
        self.collection(name)
        return self._pages(name, parsed, vectors, max(1, page_size))

    def _pages(self, name: str, flt: Filter, vectors: bool, size: int) -> Iterator[VectorRecord]:
        after: str | None = None
        while True:
            with self._observe("scan"):
                page = self._scan(name, flt, after, size, vectors)
            yield from page
            if len(page) < size:
                return
            after = page[-1].id

    def changes(self, name: str, since_revision: int, *, generation: str) -> Changes | None:
        """Records written and ids deleted in ``name`` after ``since_revision``, for a derived
        index that holds the collection as it was at that revision of ``generation``.

        ``None`` means the store cannot tell, and the caller reads every record instead: a
        store without the ``changes`` capability (it does not look at the collection then),
        a collection made again since (another generation), a revision it does not know
        (newer than the current one) or older than the deletions it still keeps.

        Raises:
            NotFound: no such collection (stores with the ``changes`` capability).
            ValidationError: a bad name, a revision that is not an integer >= 0, or a
                generation that is not text.
        """
        check_collection(name)
        if isinstance(since_revision, bool) or not isinstance(since_revision, int):
            raise ValidationError(f"since_revision must be an integer, got {since_revision!r}")
        if since_revision < 0:
            raise ValidationError(f"since_revision must be >= 0, got {since_revision}")
        if not isinstance(generation, str):
            raise ValidationError(f"generation must be text, got {generation!r}")
        if not self.supports("changes"):
            return None
        with self._observe("changes"):
            return self._changes(name, since_revision, generation)

    def count(self, name: str, flt: Filter | Mapping[str, Any] | None = None) -> int:
        """How many records match ``flt`` (all of them without one)."""
        parsed = Filter.parse(flt)
        self.collection(name)
        with self._observe("count"):
            return self._count(name, parsed)

    def query(
        self,
        name: str,
        vector: VectorLike,
        *,
        k: int = 10,
        flt: Filter | Mapping[str, Any] | None = None,
    ) -> list[Match]:
        """The ``k`` records nearest to ``vector`` among those matching ``flt``, best first.

        Raises:
            NotFound: no such collection.
            ValidationError: a vector of the wrong dimension, or ``k`` < 1.
        """
        info = self.collection(name)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 10_000:
            raise ValidationError(f"k must be between 1 and 10000, got {k!r}")
        checked = check_vector(vector, info, where="query vector")
        parsed = Filter.parse(flt)
        with self._observe("query"):
            return self._query(name, checked, k, parsed)

    def query_many(
        self,
        name: str,
        vectors: Iterable[VectorLike],
        *,
        k: int = 10,
        flt: Filter | Mapping[str, Any] | None = None,
    ) -> list[list[Match]]:
        """:meth:`query` for several vectors."""
        return [self.query(name, v, k=k, flt=flt) for v in vectors]

    # -- shared machinery ---------------------------------------------------------------------

    def _checked_records(
        self, info: CollectionInfo, records: Iterable[VectorRecord]
    ) -> list[VectorRecord]:
        checked: list[VectorRecord] = []
        seen: set[str] = set()
        for record in records:
            rid = check_id(record.id)
            if rid in seen:
                raise ValidationError(f"vector id {rid!r} appears twice in one upsert")
            seen.add(rid)
            if record.vector is None:
                raise ValidationError(f"vector record {rid!r} has no vector")
            vector = check_vector(record.vector, info, where=f"vector of {rid!r}")
            checked.append(VectorRecord(rid, vector, self._checked_metadata(rid, record)))
        return checked

    def _checked_metadata(self, rid: str, record: VectorRecord) -> dict[str, Any]:
        if not isinstance(record.metadata, Mapping):
            raise ValidationError(f"metadata of {rid!r} must be a mapping")
        metadata = {
            check_field(k): canonical(v, where=f"metadata {k!r} of {rid!r}")
            for k, v in record.metadata.items()
        }
        size = len(json.dumps(metadata, ensure_ascii=False).encode())
        if size > self.max_metadata_bytes:
            raise ValidationError(
                f"metadata of {rid!r} is {size} bytes; the limit is {self.max_metadata_bytes}"
            )
        return metadata

    def _observe(self, operation: str) -> AbstractContextManager[None]:
        return observe_call("vectors", self.scheme, operation)


def check_collection(name: Any) -> str:
    """``name`` if it is a valid collection name."""
    if not isinstance(name, str) or not _COLLECTION.match(name):
        raise ValidationError(
            f"vector collection name {name!r} is not valid",
            hint="lowercase letters, digits and _, starting with a letter (at most 48)",
        )
    return name


def check_id(rid: Any) -> str:
    """``rid`` if it is a valid record id."""
    if not isinstance(rid, str) or not rid or len(rid) > MAX_ID_CHARS or "\x00" in rid:
        raise ValidationError(
            f"vector id {rid!r} is not valid", hint=f"use 1 to {MAX_ID_CHARS} characters, no NUL"
        )
    return rid


def check_vector(vector: Any, info: CollectionInfo, *, where: str) -> Vector:
    """``vector`` as a float32 array of the collection's dimension, finite (non-zero for cosine)."""
    try:
        array = np.asarray(vector, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValidationError(f"{where} is not a list of numbers") from None
    if array.shape != (info.dimension,):
        raise ValidationError(
            f"{where} has shape {array.shape}; collection {info.name!r} takes "
            f"{info.dimension} numbers"
        )
    if not np.isfinite(array).all():
        raise ValidationError(f"{where} holds a NaN or infinite number")
    if info.metric == "cosine" and not array.any():
        raise ValidationError(f"{where} is all zeros, which has no cosine similarity")
    return array


def check_compatible(
    found: CollectionInfo, dimension: int, metric: str, properties: Mapping[str, str]
) -> None:
    """Raise :class:`Conflict` unless ``found`` has this dimension, metric and properties."""
    if found.dimension != dimension or found.metric != metric:
        raise Conflict(
            f"vector collection {found.name!r} holds {found.dimension}-d {found.metric} vectors, "
            f"not {dimension}-d {metric}",
            hint="use another collection, or drop and rebuild this one",
        )
    for key, value in properties.items():
        stored = found.properties.get(key)
        if stored is not None and stored != value:
            raise Conflict(
                f"vector collection {found.name!r} has {key}={stored!r}, not {value!r}",
                hint="vectors made another way cannot be compared: re-index into a new "
                "collection, or configure what made the stored ones",
            )


def _check_dimension(dimension: Any) -> int:
    if isinstance(dimension, bool) or not isinstance(dimension, int):
        raise ValidationError(f"dimension must be an integer, got {dimension!r}")
    if not 1 <= dimension <= MAX_DIMENSION:
        raise ValidationError(f"dimension must be 1 to {MAX_DIMENSION}, got {dimension}")
    return dimension


def _check_metric(metric: Any) -> Metric:
    if metric not in METRICS:
        raise ValidationError(f"metric {metric!r} is not one of {', '.join(METRICS)}")
    return metric  # type: ignore[no-any-return]


def _check_properties(
    properties: Mapping[str, str], *, allow_empty: bool = False
) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in properties.items():
        check_field(key)
        if not isinstance(value, str) or (not value and not allow_empty) or len(value) > 1024:
            raise ValidationError(f"collection property {key!r} must be text of 1-1024 chars")
        out[key] = value
    return out

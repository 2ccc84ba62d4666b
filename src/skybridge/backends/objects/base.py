"""The object store contract: keys to immutable blobs with a content type and user metadata.

An implementation writes five primitives (``_put``, ``_open``, ``_head``, ``_list_page``,
``_delete``); :class:`ObjectStore` derives the public API from them: body normalisation for
streaming uploads, chunked and file-like reads, pagination, ``exists``, ``copy``, key and
metadata validation, and metrics.

Semantics every implementation honours (the contract suite checks them):

* ``put`` overwrites; the latest complete write wins and readers never see a partial object.
* ``delete`` is idempotent: deleting a missing key is not an error.
* ``list`` yields entries in ascending key order (code point order, which is UTF-8 byte order);
  listed :class:`ObjectInfo` carry size, etag and last_modified but not ``content_type`` or
  ``metadata`` (S3 and OCI do not return them when listing): call :meth:`ObjectStore.head`.
* ``etag`` is opaque: it changes when the content changes, nothing more is promised (it is an
  MD5 hex digest on ``file://`` and for single-part S3 uploads, a UUID on OCI).
"""

from __future__ import annotations

import builtins
import io
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar

from skybridge.backends.objects.keys import validate_key, validate_metadata
from skybridge.backends.objects.streams import ChunkReader, ClosingIterator, as_reader, close_chunks
from skybridge.core.backend import Backend
from skybridge.core.errors import ConfigError, NotFound, ValidationError
from skybridge.core.observability import observe_call
from skybridge.core.urls import BackendURL

#: What ``put`` accepts: bytes, a binary file-like object, or an iterable of byte chunks.
Body = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes]

DEFAULT_CONTENT_TYPE = "application/octet-stream"
DEFAULT_CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class ObjectInfo:
    """What a store knows about one object.

    ``content_type`` and ``metadata`` are filled by :meth:`ObjectStore.head`; entries yielded by
    :meth:`ObjectStore.list` leave them ``None`` and empty.
    """

    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommonPrefix:
    """Keys rolled up by ``list(..., delimiter=...)``; ``key`` ends with the delimiter."""

    key: str


ListEntry = ObjectInfo | CommonPrefix


@dataclass(frozen=True)
class ListPage:
    """One page of a listing as a backend returns it; ``next_token`` is None on the last page."""

    objects: list[ObjectInfo]
    prefixes: list[str] = field(default_factory=list)
    next_token: str | None = None


class ObjectStore(Backend):
    """Keys to blobs. Subclasses implement the ``_``-prefixed primitives.

    Capabilities: ``"server_side_copy"`` (``copy`` does not move bytes through this process),
    ``"nested_prefixes"`` (a key may also be a prefix of other keys, like ``a`` and ``a/b``;
    a folder cannot hold a file and a directory of one name).
    """

    family: ClassVar[str] = "objects"
    scheme: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, page_size: int = 1000, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if page_size < 1 or chunk_size < 1:
            raise ValidationError("page_size and chunk_size must be positive integers")
        self.page_size = page_size
        self._container_found = False  # see _check_container
        self.chunk_size = chunk_size

    # -- primitives ----------------------------------------------------------------------------

    @abstractmethod
    def _put(self, key: str, body: IO[bytes], content_type: str, metadata: dict[str, str]) -> None:
        """Store the readable ``body`` under ``key`` atomically, replacing any older object."""

    @abstractmethod
    def _open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        """Start reading ``key`` (raise NotFound now, not on first chunk); return its chunks.

        The iterator's ``close()``, when it has one, releases the connection or file.
        """

    @abstractmethod
    def _head(self, key: str) -> ObjectInfo:
        """Return the full info of ``key`` or raise NotFound."""

    @abstractmethod
    def _list_page(
        self, prefix: str, delimiter: str | None, token: str | None, limit: int
    ) -> ListPage:
        """Return at most ``limit`` entries after ``token`` (an opaque value from a prior page)."""

    @abstractmethod
    def _delete(self, key: str) -> None:
        """Remove ``key``; do nothing when it does not exist."""

    def _copy(self, source: str, target: str) -> None:
        """Copy server-side when the backend can; the default streams through this process."""
        info = self._head(source)
        chunks = self._open(source, self.chunk_size)
        try:
            content_type = info.content_type or DEFAULT_CONTENT_TYPE
            self._put(target, as_reader(chunks), content_type, dict(info.metadata))
        finally:
            close_chunks(chunks)

    # -- public API ----------------------------------------------------------------------------

    def put(
        self,
        key: str,
        data: Body,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``data`` under ``key``, replacing any existing object.

        Args:
            key: Object key such as ``reports/2024/q1.csv`` (see :func:`validate_key`).
            data: Bytes, a binary file-like object, or an iterable of byte chunks. File-likes and
                iterables are streamed: large objects never need to fit in memory.
            content_type: MIME type; defaults to ``application/octet-stream``.
            metadata: User metadata; lowercase ASCII names, printable ASCII values, <= 2 KB.

        Raises:
            ValidationError: the key, metadata or data has the wrong shape.
        """
        validate_key(key)
        meta = validate_metadata(metadata or {})
        reader = as_reader(data)
        with self._observe("put"):
            self._put(key, reader, content_type or DEFAULT_CONTENT_TYPE, meta)

    def get(self, key: str) -> bytes:
        """Return the whole content of ``key``; raise NotFound when it does not exist."""
        return b"".join(self.iter_chunks(key))

    def iter_chunks(self, key: str, chunk_size: int | None = None) -> Iterator[bytes]:
        """Yield the content of ``key`` in chunks; NotFound is raised before the first chunk."""
        validate_key(key)
        with self._observe("get"):
            chunks = self._open(key, chunk_size or self.chunk_size)
        return ClosingIterator(chunks)

    def open(self, key: str, chunk_size: int | None = None) -> io.BufferedReader:
        """Return a read-only binary file object streaming ``key`` (use it in a ``with``)."""
        return io.BufferedReader(ChunkReader(self.iter_chunks(key, chunk_size)))

    def head(self, key: str) -> ObjectInfo:
        """Return size, etag, last_modified, content_type and metadata of ``key``.

        Raises:
            NotFound: no object ``key``.
            ConfigError: the bucket (or namespace, folder) itself does not exist. A HEAD answer
                carries no body, so S3 and OCI answer a missing bucket and a missing object with
                the same bare 404; the first 404 is checked with a listing, so ``exists`` does
                not answer "absent" for every key of a bucket that is not there.
        """
        validate_key(key)
        with self._observe("head"):
            try:
                return self._head(key)
            except NotFound:
                self._check_container()
                raise

    stat = head

    def exists(self, key: str) -> bool:
        """True when ``key`` holds an object."""
        try:
            self.head(key)
        except NotFound:
            return False
        return True

    def list(self, prefix: str = "", *, delimiter: str | None = None) -> Iterator[ListEntry]:
        """Yield objects under ``prefix`` and, with ``delimiter``, rolled-up :class:`CommonPrefix`.

        Pages of ``page_size`` entries are fetched lazily as the iterator advances.
        """
        if prefix:
            validate_key(prefix, allow_trailing_slash=True, what="prefix")
        if delimiter == "":
            raise ValidationError("delimiter must be a non-empty string or None")
        token: str | None = None
        while True:
            with self._observe("list"):
                page = self._list_page(prefix, delimiter, token, self.page_size)
            entries: builtins.list[ListEntry] = [*page.objects, *map(CommonPrefix, page.prefixes)]
            yield from sorted(entries, key=lambda entry: entry.key)
            if not page.next_token:
                return
            token = page.next_token

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Yield every key under ``prefix`` in order."""
        for entry in self.list(prefix):
            yield entry.key

    def delete(self, key: str) -> None:
        """Remove ``key``. Idempotent: a missing key is not an error."""
        validate_key(key)
        with self._observe("delete"):
            self._delete(key)

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key of ``keys``, in as few calls as the backend allows (S3: a
        ``DeleteObjects`` per 1,000 keys; the file store: one lock). Idempotent like
        :meth:`delete`; every key is checked before any is removed."""
        wanted = list(dict.fromkeys(keys))
        for key in wanted:
            validate_key(key)
        if not wanted:
            return
        with self._observe("delete_many"):
            self._delete_many(wanted)

    def _delete_many(self, keys: builtins.list[str]) -> None:
        """Remove ``keys`` (checked, distinct); the default deletes them one by one."""
        for key in keys:
            self._delete(key)

    def copy(self, source: str, target: str) -> None:
        """Copy ``source`` with its content type and metadata to ``target``."""
        validate_key(source)
        validate_key(target)
        with self._observe("copy"):
            self._copy(source, target)

    def _check_container(self) -> None:
        """Raise ``ConfigError`` when the store's bucket does not exist (a listing of it is
        NotFound); once it was found, it is not asked again."""
        if self._container_found:
            return
        try:
            self._list_page("", None, None, 1)
        except NotFound as exc:
            raise ConfigError(
                f"{self.scheme}:// store: {exc.message}",
                setting="backends.objects",
                hint="check the bucket (and namespace) in the URL, or create the bucket",
            ) from None
        self._container_found = True

    def ping(self) -> None:
        """Make one cheap listing call."""
        with self._observe("ping"):
            self._list_page("", None, None, 1)

    # -- plumbing ------------------------------------------------------------------------------

    def _observe(self, operation: str) -> AbstractContextManager[None]:
        return observe_call(self.family, self.scheme, operation)


def int_option(url: BackendURL, options: dict[str, Any], name: str, default: int) -> int:
    """Pop integer option ``name`` from keyword ``options``, else the URL query, else default."""
    value = options.pop(name, url.params.get(name, default))
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None

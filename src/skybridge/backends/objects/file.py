"""``file://`` object store: plain files in a local folder.

``file://data/objects`` (relative to the working directory) or ``file:///srv/objects``.
Key ``a/b.csv`` is the file ``<root>/a/b.csv``, so the folder stays browsable. Content type,
metadata and the MD5 etag live in a JSON sidecar under ``<root>/.skybridge/meta``; temp files
under ``<root>/.skybridge/tmp``. A new root is created 0700 and objects are written 0600 (an
existing root open to other users gets a warning in the log). Writes go to a temp file then
``os.replace`` (atomic). Keys never leave the root: validation rejects ``..`` and absolute
keys and every path is re-checked after resolving symlinks. A folder cannot hold both ``a``
and ``a/b``: such a put raises Conflict (the store lacks the ``nested_prefixes`` capability).

URL params / options: ``page_size``, ``chunk_size``, ``fsync`` (default true).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from skybridge.backends.objects.base import (
    DEFAULT_CONTENT_TYPE,
    ListPage,
    ObjectInfo,
    ObjectStore,
    int_option,
)
from skybridge.backends.objects.file_errors import os_errors
from skybridge.backends.objects.listing import group_keys
from skybridge.core.errors import Conflict, NotFound, TerminalError, ValidationError
from skybridge.core.private_files import FILE_MODE, private_dir
from skybridge.core.urls import BackendURL

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: in-process locking only
    fcntl = None  # type: ignore[assignment]

_RESERVED = ".skybridge"
_MAX_SEGMENT_BYTES = 250  # a file name is <= 255 bytes and the sidecar adds ".json"


class FileObjectStore(ObjectStore):
    """Objects as files under ``root``."""

    scheme = "file"
    capabilities = frozenset({"server_side_copy"})

    def __init__(self, root: Path | str, *, fsync: bool = True, **options: Any) -> None:
        super().__init__(**options)
        self.root = Path(os.path.realpath(Path(root).expanduser()))
        self.fsync = fsync
        self._meta = self.root / _RESERVED / "meta"
        self._tmp = self.root / _RESERVED / "tmp"
        self._thread_lock = threading.Lock()
        with os_errors(str(self.root)):
            private_dir(self.root)
            self._tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._meta.mkdir(parents=True, exist_ok=True, mode=0o700)

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        if not url.rest:
            raise ValidationError("file:// URL needs a folder, e.g. file://data/objects")
        return cls(
            url.location(),
            fsync=bool(options.pop("fsync", url.flag("fsync", default=True))),
            page_size=int_option(url, options, "page_size", 1000),
            chunk_size=int_option(url, options, "chunk_size", 1024 * 1024),
        )

    # -- paths ---------------------------------------------------------------------------------

    def _path(self, key: str, tree: Path | None = None, suffix: str = "") -> Path:
        segments = key.split("/")
        if segments[0] == _RESERVED:
            raise ValidationError(f"keys under '{_RESERVED}/' are reserved by the file:// store")
        for segment in segments:
            if len(segment.encode("utf-8")) > _MAX_SEGMENT_BYTES:
                raise ValidationError(
                    f"key segment {segment[:20]!r}... is longer than {_MAX_SEGMENT_BYTES} bytes; "
                    "the file:// store keeps each segment as a file name"
                )
        path = (tree or self.root).joinpath(*segments[:-1], segments[-1] + suffix)
        real = os.path.realpath(path)
        if not real.startswith(str(self.root) + os.sep):
            raise TerminalError(f"key {key!r} resolves outside the store root (a symlink?)")
        return path

    def _sidecar(self, key: str) -> Path:
        return self._path(key, self._meta, ".json")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise renames and directory pruning across threads and processes."""
        lock_file = self.root / _RESERVED / "lock"
        with self._thread_lock:
            fd = os.open(lock_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
            with os.fdopen(fd, "ab") as handle:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                yield

    # -- primitives ----------------------------------------------------------------------------

    def _put(self, key: str, body: IO[bytes], content_type: str, metadata: dict[str, str]) -> None:
        path, sidecar = self._path(key), self._sidecar(key)
        temps: list[str] = []
        try:
            with os_errors(key):
                data_tmp, etag = self._write_temp(body, temps)
                stat = os.stat(data_tmp)
                record = {
                    "etag": etag,
                    "content_type": content_type,
                    "metadata": metadata,
                    "stamp": _stamp(stat),
                }
                meta_tmp, _ = self._write_temp([json.dumps(record).encode()], temps)
                with self._locked():
                    self._make_parent(key, path)
                    sidecar.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(data_tmp, path)
                    os.replace(meta_tmp, sidecar)
        finally:
            for name in temps:
                with suppress(FileNotFoundError):
                    os.unlink(name)

    def _write_temp(self, body: IO[bytes] | list[bytes], temps: list[str]) -> tuple[str, str]:
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        temps.append(name)
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            chunks = (
                body if isinstance(body, list) else iter(lambda: body.read(self.chunk_size), b"")
            )
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            if self.fsync:
                os.fsync(out.fileno())
        return name, digest.hexdigest()

    def _make_parent(self, key: str, path: Path) -> None:
        if path.is_dir():
            raise Conflict(f"key {key!r} is a prefix of other keys; a folder cannot hold both")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise Conflict(
                f"a parent of key {key!r} is itself an object; a folder cannot hold both"
            ) from None

    def _open(self, key: str, chunk_size: int) -> Iterator[bytes]:
        with os_errors(key):
            handle = open(self._path(key), "rb")  # noqa: SIM115 - closed by the generator
        return self._read(handle, key, chunk_size)

    def _read(self, handle: IO[bytes], key: str, chunk_size: int) -> Iterator[bytes]:
        with handle, os_errors(key):
            while chunk := handle.read(chunk_size):
                yield chunk

    def _head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        with os_errors(key):
            stat = os.stat(path)
            if not path.is_file():
                raise NotFound(f"object {key!r} does not exist")
            record = self._record(key, stat)
            etag = record.get("etag") or _md5_file(path, self.chunk_size)
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=etag,
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            content_type=record.get("content_type") or DEFAULT_CONTENT_TYPE,
            metadata=dict(record.get("metadata") or {}),
        )

    def _record(self, key: str, stat: os.stat_result) -> dict[str, Any]:
        """The sidecar of ``key`` when it describes the current file, else an empty record."""
        try:
            record: dict[str, Any] = json.loads(self._sidecar(key).read_bytes())
        except (OSError, ValueError):
            return {}
        return record if record.get("stamp") == _stamp(stat) else {}

    def _list_page(
        self, prefix: str, delimiter: str | None, token: str | None, limit: int
    ) -> ListPage:
        after = token[2:] if token else None
        keys = self._walk(self.root, "", prefix, after)
        if token and token.startswith("p:"):
            keys = (k for k in keys if not k.startswith(after or ""))
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last = ""
        for key, is_prefix in group_keys(keys, prefix, delimiter):
            if len(objects) + len(prefixes) == limit:
                return ListPage(objects, prefixes, last)
            if is_prefix:
                prefixes.append(key)
                last = f"p:{key}"
                continue
            with suppress(NotFound):  # deleted while listing
                objects.append(self._head(key))
                last = f"k:{key}"
        return ListPage(objects, prefixes, None)

    def _walk(self, directory: Path, rel: str, prefix: str, after: str | None) -> Iterator[str]:
        """Yield keys under ``directory`` in code point order, pruned by prefix and ``after``."""
        try:
            with os.scandir(directory) as scan:
                found = [(e.name, e.is_dir(follow_symlinks=False), e) for e in scan]
        except (FileNotFoundError, NotADirectoryError):
            return
        entries = []
        for name, is_dir, entry in found:
            if (not rel and name == _RESERVED) or not (
                is_dir or entry.is_file(follow_symlinks=False)
            ):
                continue
            sort_key = f"{rel}{name}/" if is_dir else f"{rel}{name}"
            if not (sort_key.startswith(prefix) or (is_dir and prefix.startswith(sort_key))):
                continue
            # a folder sorting before ``after`` may still hold keys after it
            if (
                after is not None
                and sort_key <= after
                and not (is_dir and after.startswith(sort_key))
            ):
                continue
            entries.append((sort_key, is_dir, name))
        for sort_key, is_dir, name in sorted(entries):
            if is_dir:
                yield from self._walk(directory / name, sort_key, prefix, after)
            else:
                yield sort_key

    def _delete(self, key: str) -> None:
        self._delete_many([key])

    def _delete_many(self, keys: list[str]) -> None:
        """Unlink every key under one lock, then prune each emptied folder once. Every key's
        path is worked out (and refused: reserved, too long, outside the root) first."""
        paths = []
        for key in keys:
            with os_errors(key):
                paths.append((key, self._path(key), self._sidecar(key)))
        with self._locked():
            folders: dict[Path, Path] = {}
            for key, path, sidecar in paths:
                with os_errors(key):
                    if path.is_file() or path.is_symlink():
                        path.unlink()
                    with suppress(FileNotFoundError):
                        sidecar.unlink()
                folders.setdefault(path.parent, self.root)
                folders.setdefault(sidecar.parent, self._meta)
            for folder, top in folders.items():
                with os_errors(str(folder)):
                    _prune_empty_parents(folder, top)

    def _copy(self, source: str, target: str) -> None:
        info = self._head(source)
        with os_errors(source), open(self._path(source), "rb") as handle:
            self._put(
                target, handle, info.content_type or DEFAULT_CONTENT_TYPE, dict(info.metadata)
            )


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_ino, stat.st_size, stat.st_mtime_ns]


def _md5_file(path: Path, chunk_size: int) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _prune_empty_parents(directory: Path, top: Path) -> None:
    while directory != top and top in directory.parents:
        try:
            directory.rmdir()
        except OSError:
            return
        directory = directory.parent

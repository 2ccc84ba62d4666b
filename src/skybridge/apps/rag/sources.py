"""Where documents come from: a local file or folder, ``file://``, ``s3://``, ``oci://``.

Remote sources are read through the objects backend family (``s3://bucket/prefix``,
``oci://bucket@namespace/prefix``). Local folders are read in place (hidden files and folders
are left out), with ``modified-size`` as the etag that lets unchanged files go unread. Only
keys with a supported suffix are documents (see :mod:`skybridge.apps.rag.parsing`); document
ids are the keys relative to the source.

Links in a local folder (to files and to folders) are followed only where they lead somewhere
the :class:`Confinement` allows: every file and folder found is resolved, and one that resolves
outside the allowed roots, or into the service's own data folder, is not read but listed in
:attr:`Source.refused` with the reason. A file is read from the path that was checked, and only
if it is still the file that was checked (same device and inode), so a link swapped in after
the listing is not followed either.

A folder, file or link of a local folder that cannot be looked at (an I/O error, a stale
network handle, a permission) is listed in :attr:`Source.refused` and in
:attr:`Source.unchecked`: the ingest keeps the documents indexed under it as they are. An
object store's listing is whole or fails: a page that cannot be read fails the ingest.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from skybridge.apps.rag.parsing import format_of
from skybridge.backends import objects
from skybridge.backends.objects import ObjectInfo
from skybridge.core.errors import ValidationError

#: Why a file of a local folder was not read (the ``reason`` of its ``skipped`` entry).
OUTSIDE = "outside the allowed sources"
SERVICE_DATA = "inside the service's own data folder"
SEEN = "a folder already read (a link loop or a second link to it)"
BROKEN = "a link that leads nowhere"
NOT_A_FILE = "not a regular file (a FIFO, socket or device)"
#: Errors that say a path leads nowhere (the rest say it could not be looked at).
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ELOOP})
REPLACED = "{} was replaced while it was being ingested; not read"
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in does not block the open
    | getattr(os, "O_BINARY", 0)
)


@dataclass(frozen=True)
class Source:
    """An opened source: its label (stored with each document), documents and a reader.

    ``complete`` is false when one file of a folder was named: then documents missing from the
    listing were not looked at, and must not be removed. ``refused``: files and folders of a
    local source that were not read (``{"document": key, "reason": ...}``), e.g. a link leading
    outside the allowed roots. ``unchecked``: what the listing could not look at, with why:
    folders (``"sub/"``; ``""`` for the source itself) and files, whose documents missing from
    the listing must not be removed either.
    """

    label: str
    documents: list[ObjectInfo]
    read: Callable[[str], bytes] = field(repr=False)
    ignored: list[str] = field(default_factory=list)
    complete: bool = True
    refused: list[dict[str, str]] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)

    def unchecked_under(self, key: str) -> str | None:
        """The folder or file of :attr:`unchecked` that holds ``key``, or ``None``."""
        for where in self.unchecked:
            if key == where or ((not where or where.endswith("/")) and key.startswith(where)):
                return where
        return None


def within(path: Path, folder: Path) -> bool:
    """Whether the (resolved) ``path`` is ``folder`` or inside it."""
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class Confinement:
    """Where the files of a local source may be, once every link on the way is followed.

    Build it with :meth:`of`, which resolves the folders.

    Attributes:
        roots: Folders files must resolve into; ``None``: the source itself (a folder cannot
            reach outside itself through a link).
        denied: Folders no file may resolve into, even inside a root (the service's data).
    """

    roots: tuple[Path, ...] | None = None
    denied: tuple[Path, ...] = ()

    @classmethod
    def of(
        cls, roots: Iterable[str | Path] | None = None, denied: Iterable[str | Path] = ()
    ) -> Confinement:
        return cls(
            None if roots is None else tuple(Path(r).resolve() for r in roots),
            tuple(Path(d).resolve() for d in denied),
        )

    def refusal(self, path: Path, source: Path) -> str | None:
        """Why the resolved ``path``, found in ``source``, may not be read; ``None``: it may."""
        if any(within(path, d) for d in self.denied):
            return SERVICE_DATA
        roots = (source,) if self.roots is None else self.roots
        if not any(within(path, root) for root in roots):
            return OUTSIDE
        return None


def local_path(source: str) -> str | None:
    """The path of a local source (a path or ``file://``, any case); ``None``: a URL."""
    scheme, sep, rest = source.partition("://")
    if not sep:
        return source
    return rest if scheme.lower() == "file" else None


def _split(entries: list[ObjectInfo]) -> tuple[list[ObjectInfo], list[str]]:
    wanted = sorted((e for e in entries if format_of(e.key)), key=lambda e: e.key)
    return wanted, sorted(e.key for e in entries if not format_of(e.key))


@dataclass(frozen=True)
class _LocalFile:
    """A file as checked: its resolved path and identity (read only if still the same)."""

    path: Path
    device: int
    inode: int


@dataclass
class _Listing:
    source: Path
    confinement: Confinement
    files: dict[str, _LocalFile] = field(default_factory=dict)
    infos: list[ObjectInfo] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    unchecked: dict[str, str] = field(default_factory=dict)

    def refuse(self, key: str, reason: str) -> None:
        self.refused.append({"document": key, "reason": reason})

    def unreadable(self, reason: str, *keys: str) -> None:
        """``keys`` could not be looked at: refused, and their indexed documents kept."""
        self.refuse(keys[0] or ".", reason)
        for key in keys:
            self.unchecked[key] = reason

    def add_file(self, key: str, path: Path) -> None:
        try:
            st = path.stat()
        except OSError as exc:
            if exc.errno in _MISSING:  # gone since the listing, or a link leading nowhere
                self.refuse(key, BROKEN)
            else:
                self.unreadable(f"cannot be read: {exc.strerror}", key)
            return
        if not stat.S_ISREG(st.st_mode):
            self.refuse(key, NOT_A_FILE)
            return
        self.files[key] = _LocalFile(path, st.st_dev, st.st_ino)
        self.infos.append(
            ObjectInfo(
                key,
                st.st_size,
                f"{st.st_mtime_ns}-{st.st_size}",
                datetime.fromtimestamp(st.st_mtime, UTC),
            )
        )

    def walk(self) -> None:
        """Every file under the source, links followed where the confinement allows.

        Names come from the directory listing (never ``..`` or a ``/``); each is resolved and
        checked, so neither a link nor a name can lead out. Each folder is read once: links to
        folders are followed after the real folders, and one leading to a folder already read
        (a loop, a second link) is reported instead.
        """
        seen = {self.source}
        stack: list[tuple[Path, str]] = [(self.source, "")]
        links: list[tuple[Path, str]] = []
        while stack or links:
            if not stack:
                target, prefix = links.pop(0)
                if target in seen:
                    self.refuse(prefix, SEEN)
                    continue
                seen.add(target)
                stack.append((target, prefix))
            folder, prefix = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    names = sorted(e.name for e in listing if not e.name.startswith("."))
            except OSError as exc:
                self.unreadable(f"cannot be listed: {exc.strerror}", prefix)
                continue
            folders: list[tuple[Path, str]] = []
            for name in names:
                key = prefix + name
                try:
                    target = (folder / name).resolve()
                    is_dir = _is_folder(target)
                except RuntimeError:  # a link to itself
                    self.refuse(key, BROKEN)
                    continue
                except OSError as exc:  # not a missing target: _is_folder says False for one
                    self.unreadable(f"cannot be read: {exc.strerror}", key, key + "/")
                    continue
                reason = self.confinement.refusal(target, self.source)
                if reason is not None:
                    self.refuse(key + "/" if is_dir else key, reason)
                elif is_dir and target != folder / name:
                    links.append((target, key + "/"))
                elif is_dir and target in seen:
                    self.refuse(key + "/", SEEN)
                elif is_dir:
                    seen.add(target)
                    folders.append((target, key + "/"))
                else:
                    self.add_file(key, target)
            stack.extend(reversed(folders))

    def read(self, key: str) -> bytes:
        """The bytes of a listed file, if it is still the file that was checked and still
        where the confinement allows (a link swapped in since the listing is not followed)."""
        found = self.files.get(key)
        if found is None:
            raise ValidationError(f"{key!r} is not a file of this source")
        try:
            fd = os.open(found.path, _READ_FLAGS)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # O_NOFOLLOW: the file became a link
                raise ValidationError(REPLACED.format(key)) from None
            raise ValidationError(f"{key} cannot be read: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(fd)
            same = (st.st_dev, st.st_ino) == (found.device, found.inode)
            if not (stat.S_ISREG(st.st_mode) and same) or self._opened_elsewhere(fd, found.path):
                raise ValidationError(REPLACED.format(key))
            return handle.read()

    def _opened_elsewhere(self, fd: int, path: Path) -> bool:
        try:  # where the open file really is (Linux); else where its path leads now
            opened = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            opened = path.resolve()
        return self.confinement.refusal(opened, self.source) is not None


def _is_folder(path: Path) -> bool:
    """Whether ``path`` (links followed) is a folder; ``False`` when nothing is there (the
    file's own look tells a link leading nowhere).

    ``os.stat``, not ``Path.is_dir``: newer Pythons make that say ``False`` for any error, so
    a folder that cannot be looked at (EACCES, EIO) would pass for a file.

    Raises:
        OSError: it is there but cannot be looked at.
    """
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in _MISSING:
            return False
        raise


def local_source(location: str, confinement: Confinement | None = None) -> Source:
    """A local file (one document of its folder) or folder (all its documents).

    Files (links followed) must resolve where ``confinement`` allows (by default: inside the
    source); others are listed in :attr:`Source.refused` and not read.
    """
    path = Path(location).expanduser().resolve()
    if not path.exists():
        raise ValidationError(
            f"no file or folder at {location}",
            hint="give a path, file://..., s3://bucket/prefix or oci://bucket@ns/prefix",
        )
    is_dir = path.is_dir()
    root = path if is_dir else path.parent
    listing = _Listing(path, confinement or Confinement())
    if is_dir:
        listing.walk()
    elif (reason := listing.confinement.refusal(path, path)) is not None:
        listing.refuse(path.name, reason)
    else:
        listing.add_file(path.name, path)
    wanted, ignored = _split(listing.infos)
    return Source(
        f"file://{root}",
        wanted,
        listing.read,
        ignored,
        complete=is_dir,
        refused=sorted(listing.refused, key=lambda r: r["document"]),
        unchecked=listing.unchecked,
    )


@contextmanager
def open_source(source: str, confinement: Confinement | None = None) -> Iterator[Source]:
    """List the documents of ``source``; a remote store is closed on exit.

    ``confinement`` applies to local sources (see :func:`local_source`). Any ``file://`` URL,
    in any case, is a local source: the objects backend never reads local files for rag.

    Raises:
        ValidationError: an empty source, or a local path that does not exist.
    """
    if not source.strip():
        raise ValidationError("give a source: a path, file://..., s3://... or oci://...")
    location = local_path(source)
    if location is not None:
        yield local_source(location, confinement)
        return
    with objects.connect(source, setting="rag ingest source") as store:
        wanted, ignored = _split([e for e in store.list("") if isinstance(e, ObjectInfo)])
        yield Source(source.rstrip("/"), wanted, store.get, ignored)


@contextmanager
def open_object(store_url: str, key: str) -> Iterator[Source]:
    """One object of a store as a source (cloud events): nothing else is looked at.

    Raises:
        NotFound: the object is not there (deleted again before the event was handled).
    """
    with objects.connect(store_url, setting="rag event source") as store:
        wanted, ignored = _split([store.head(key)])
        yield Source(store_url, wanted, store.get, ignored, complete=False)

"""Where documents come from: a local file or folder, ``file://``, ``s3://``, ``oci://``.

Remote sources are read through the objects backend family (``s3://bucket/prefix``,
``oci://bucket@namespace/prefix``). Local folders are read in place (hidden files and folders
are left out), with ``modified-size`` as the etag that lets unchanged files go unread. Only
keys with a supported suffix are documents (see :mod:`skybridge.apps.rag.parsing`); document
ids are the keys relative to the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from skybridge.apps.rag.parsing import format_of
from skybridge.backends import objects
from skybridge.backends.objects import ObjectInfo
from skybridge.core.errors import ValidationError


@dataclass(frozen=True)
class Source:
    """An opened source: its label (stored with each document), documents and a reader.

    ``complete`` is false when one file of a folder was named: then documents missing from the
    listing were not looked at, and must not be removed.
    """

    label: str
    documents: list[ObjectInfo]
    read: Callable[[str], bytes] = field(repr=False)
    ignored: list[str] = field(default_factory=list)
    complete: bool = True


def _split(entries: list[ObjectInfo]) -> tuple[list[ObjectInfo], list[str]]:
    wanted = sorted((e for e in entries if format_of(e.key)), key=lambda e: e.key)
    return wanted, sorted(e.key for e in entries if not format_of(e.key))


def _local_info(root: Path, path: Path) -> ObjectInfo:
    stat = path.stat()
    return ObjectInfo(
        path.relative_to(root).as_posix(),
        stat.st_size,
        f"{stat.st_mtime_ns}-{stat.st_size}",
        datetime.fromtimestamp(stat.st_mtime, UTC),
    )


def local_source(location: str) -> Source:
    """A local file (one document of its folder) or folder (all its documents)."""
    path = Path(location).expanduser().resolve()
    if not path.exists():
        raise ValidationError(
            f"no file or folder at {location}",
            hint="give a path, file://..., s3://bucket/prefix or oci://bucket@ns/prefix",
        )
    root = path.parent if path.is_file() else path
    files = (
        [path]
        if path.is_file()
        else [
            p
            for p in sorted(root.rglob("*"))
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
        ]
    )
    wanted, ignored = _split([_local_info(root, p) for p in files])
    return Source(
        f"file://{root}",
        wanted,
        lambda key: (root / key).read_bytes(),
        ignored,
        complete=path.is_dir(),
    )


@contextmanager
def open_source(source: str) -> Iterator[Source]:
    """List the documents of ``source``; a remote store is closed on exit.

    Raises:
        ValidationError: an empty source, or a local path that does not exist.
    """
    if not source.strip():
        raise ValidationError("give a source: a path, file://..., s3://... or oci://...")
    if "://" not in source or source.startswith("file://"):
        yield local_source(source.removeprefix("file://"))
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

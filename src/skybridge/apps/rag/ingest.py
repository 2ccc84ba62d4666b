"""Ingest: read a source, chunk and embed what changed, replace documents atomically.

For each document of the source: an object whose etag (and chunking) is unchanged is skipped
unread; one whose content hash is unchanged is skipped after reading; others are parsed,
chunked and embedded in batches across documents (the model works on many chunks at once).
Per batch: the new chunks are written under new ids, then each document's registry entry flips
to the new version, then its old chunks are deleted; until the flip, queries serve the old
version. Documents of the source that are gone are removed with their chunks; those under a
folder or file the listing could not look at are kept as they are and reported. A document that
cannot be parsed is reported and nothing of it is written. A batch that fails to embed or write
reports each of its documents not yet flipped as skipped: their registry entries still name the
version indexed before (or none), so the next ingest indexes them.

A changed document is claimed (:mod:`skybridge.apps.rag.claims`) before it is read and until
its flip, so a concurrent ingest of the same documents leaves it to this one and comes back to
it afterwards (then finding it indexed), instead of embedding and writing it a second time.
An ingest whose claim lapsed before its flip (another ingest took the document over) does not
flip; it claims the document again and deletes the chunks of it that no current version uses,
its own among them, since the ingest that took over may have found nothing to write.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from skybridge.apps.rag.chunking import Chunk, check_size, chunk_document
from skybridge.apps.rag.claims import ClaimBusy, DocumentClaims, OnWait
from skybridge.apps.rag.documents import DocumentEntry
from skybridge.apps.rag.embedding_cache import EmbeddingCache
from skybridge.apps.rag.parsing import ParsedDocument, parse
from skybridge.apps.rag.retrieval import RESERVED
from skybridge.apps.rag.service import Rag
from skybridge.apps.rag.sources import Confinement, Source, open_object, open_source
from skybridge.backends.objects import ObjectInfo
from skybridge.backends.vectors import VectorRecord
from skybridge.backends.vectors.filters import canonical, check_field
from skybridge.core.arguments import path_text
from skybridge.core.errors import SkybridgeError, TransientError, ValidationError
from skybridge.core.observability import get_logger

log = get_logger(__name__)
#: Chunks embedded together (across documents).
BATCH_CHUNKS = 256
PARSER_VERSION = "1"
#: ``(documents done, documents in the source, current key)``.
Progress = Callable[[int, int, str], None]


@dataclass
class IngestReport:
    """What an ingest did."""

    source: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    #: Documents not indexed, with the reason: unreadable, no text, their batch failed to embed
    #: or write, or files of a folder that were not read because they resolve outside the
    #: allowed sources or into the service's data folder (links included). Also documents kept
    #: as indexed, unchecked, because a folder holding them could not be listed.
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: Files of the source that are of no type indexed (not .txt, .md, .html, .pdf).
    ignored: list[str] = field(default_factory=list)
    chunks: int = 0
    cached_vectors: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Pending:
    entry: DocumentEntry
    chunks: list[Chunk]
    previous: DocumentEntry | None
    metadata: dict[str, Any]


def user_metadata(pairs: Mapping[str, Any]) -> dict[str, Any]:
    """Fields to add to every chunk, checked as the chunk writer checks them (names, and
    values a vector store keeps), so a bad one is refused before anything is loaded or
    created; the chunk's own fields cannot be overridden."""
    if not isinstance(pairs, Mapping):
        raise ValidationError(
            f"metadata must be a mapping of field to value, got {type(pairs).__name__}"
        )
    for key, value in pairs.items():
        check_field(key)
        if key in RESERVED:
            raise ValidationError(f"metadata field {key!r} is set by skybridge itself")
        canonical(value, where=f"metadata[{key!r}]")
    return dict(pairs)


class Ingestion:
    """One run of :func:`ingest`."""

    def __init__(self, rag: Rag, label: str, metadata: dict[str, Any]) -> None:
        self.rag = rag
        self.label = label
        self.metadata = metadata
        self.cache = EmbeddingCache(rag.kv, rag.embedder)
        self.report = IngestReport(label)
        self._skipped: set[str] = set()
        self.pending: list[_Pending] = []
        c = rag.config
        self.claims = DocumentClaims(
            rag.kv, rag.collection, ttl=c.claim_seconds, wait_seconds=c.ingest_wait_seconds
        )
        #: Documents whose claim was lost after their chunks were written (to sweep).
        self.unswept: set[str] = set()
        #: Documents whose claim lapsed before their flip with no other ingest taking it
        #: (its renewals failed): not indexed, nobody else will index them.
        self.lapsed: set[str] = set()
        # What a document's chunks are made from besides its bytes: the chunking, and the
        # source and metadata stored with every chunk, so that ingesting the same documents
        # from another source or with other --meta re-indexes them instead of calling them
        # unchanged (re-embedding costs nothing: the cache has their chunks' vectors).
        labels = json.dumps([label, metadata], sort_keys=True, default=str)
        stamp = hashlib.sha256(labels.encode()).hexdigest()[:16]
        self.chunking = f"{c.chunk_tokens}:{c.chunk_overlap}:{PARSER_VERSION}:{stamp}"

    def version(self, data: bytes) -> str:
        return hashlib.sha256(data + b"|" + self.chunking.encode()).hexdigest()

    def skip(self, doc_id: str, reason: str) -> None:
        """Report ``doc_id`` as not indexed, once (the first reason given)."""
        if doc_id not in self._skipped:
            self._skipped.add(doc_id)
            self.report.skipped.append({"document": doc_id, "reason": reason})

    def consider(self, info: ObjectInfo, read: Callable[[], bytes]) -> bool:
        """Queue ``info``'s document if it changed; ``False`` when another ingest is working
        on it (consider it again once that one is done)."""
        etag = f"{info.etag}|{self.chunking}"
        if self._unchanged(self.rag.documents.get(info.key), info, etag):
            return True
        if not self.claims.take(info.key):
            return False
        queued = False
        try:
            # read again under the claim: another ingest may have indexed it meanwhile
            previous = self.rag.documents.get(info.key)
            if not self._unchanged(previous, info, etag):
                queued = self._read(info, read, etag, previous)
            if not queued and info.key in self.claims.inherited:
                sweep(self.rag, [info.key])  # what an ingest that died here left written
        finally:
            if not queued:
                self.claims.release([info.key])
        return True

    def _unchanged(self, previous: DocumentEntry | None, info: ObjectInfo, etag: str) -> bool:
        if previous is not None and info.etag and previous.etag == etag:
            self.report.unchanged += 1
            return True
        return False

    def _read(
        self,
        info: ObjectInfo,
        read: Callable[[], bytes],
        etag: str,
        previous: DocumentEntry | None,
    ) -> bool:
        """Read, parse and queue a changed document; whether it was queued."""
        data = read()
        digest = self.version(data)
        if previous is not None and previous.hash == digest:
            self.rag.documents.put(DocumentEntry(**{**previous.to_dict(), "etag": etag}))
            self.report.unchanged += 1
            return False
        try:
            parsed = parse(info.key, data)
        except ValidationError as exc:
            self.skip(info.key, exc.message)
            return False
        return self.queue(info.key, parsed, digest, etag, previous, info)

    def queue(
        self,
        doc_id: str,
        parsed: ParsedDocument,
        digest: str,
        etag: str,
        previous: DocumentEntry | None,
        info: ObjectInfo | None = None,
    ) -> bool:
        """Chunk a document and queue it for embedding (embedded in batches); whether it had
        any text."""
        c = self.rag.config
        chunks = chunk_document(
            parsed, self.rag.embedder, size=c.chunk_tokens, overlap=c.chunk_overlap
        )
        if not chunks:
            self.skip(doc_id, "no text")
            return False
        entry = DocumentEntry(
            doc_id, digest, self.label, parsed.title, len(chunks), etag, time.time()
        )
        meta = dict(self.metadata)
        if info is not None:
            meta["modified"] = info.last_modified
        self.pending.append(_Pending(entry, chunks, previous, meta))
        if sum(len(p.chunks) for p in self.pending) >= BATCH_CHUNKS:
            self.flush()
        return True

    def flush(self) -> None:
        """Embed and write the queued documents, then flip and clean each one.

        Raises:
            SkybridgeError: embedding or writing failed; each document of the batch not yet
                flipped is reported as skipped and its claim given back first.
        """
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        done: set[str] = set()
        try:
            self._write(batch, done)
        except SkybridgeError as exc:
            failed = [p.entry.id for p in batch if p.entry.id not in done]
            for doc_id in failed:
                self.skip(doc_id, f"not indexed, its batch failed: {exc}")
            with suppress(SkybridgeError):  # a claim not given back lapses (claim_seconds)
                self.claims.release(failed)
            raise

    def _write(self, batch: list[_Pending], done: set[str]) -> None:
        """Embed, write and flip ``batch``; ``done`` collects the documents flipped or left
        to another ingest."""
        texts = [c.text for p in batch for c in p.chunks]
        before = self.cache.hits
        vectors = self.cache.embed(texts)
        self.report.cached_vectors += self.cache.hits - before
        records: list[VectorRecord] = []
        for p in batch:
            for chunk in p.chunks:
                records.append(
                    VectorRecord(
                        chunk_id(p.entry, chunk.n),
                        vectors[len(records)],
                        self._chunk_metadata(p, chunk),
                    )
                )
        self.rag.vectors.upsert(self.rag.collection, records)
        flipped = []
        for p in batch:
            if self._flip(p):
                flipped.append(p.entry.id)
            done.add(p.entry.id)
        sweep(self.rag, flipped)
        self.claims.release(flipped)
        self.unswept.update(p.entry.id for p in batch if p.entry.id not in flipped)
        self.report.chunks += len(records)

    def sweep_lost(self) -> None:
        """Delete the chunks written for documents whose claim was lost, under their claim
        again (so no ingest is writing them): the one that took a document over flips and
        sweeps only if it found the document changed. Documents claimed by another ingest
        now stay in ``unswept``."""
        for doc_id in sorted(self.unswept):
            if not self.claims.take(doc_id):
                continue
            try:
                sweep(self.rag, [doc_id])
            finally:
                self.claims.release([doc_id])
            self.unswept.discard(doc_id)

    def _flip(self, p: _Pending) -> bool:
        """Serve the new version, then delete the old one's chunks; ``False`` when the claim
        was lost to another ingest (which then owns the document; the chunks written here are
        deleted by :meth:`sweep_lost`)."""
        if not self.claims.keep(p.entry.id):
            if self.claims.leases.holder(p.entry.id) is None:
                self.lapsed.add(p.entry.id)
                reason = (
                    "its claim lapsed before it was indexed (its renewals failed, or another "
                    "ingest took it and gave it back); ingest again"
                )
            else:
                reason = "another ingest took it over"
            self.skip(p.entry.id, reason)
            return False
        self.rag.documents.put(p.entry)
        if p.previous is not None:
            self.rag.vectors.delete(self.rag.collection, old_chunk_ids(p.previous))
            self.report.updated.append(p.entry.id)
        else:
            self.report.added.append(p.entry.id)
        return True

    def _chunk_metadata(self, p: _Pending, chunk: Chunk) -> dict[str, Any]:
        return {
            **p.metadata,
            "doc_id": p.entry.id,
            "doc_hash": p.entry.hash,
            "n": chunk.n,
            "title": p.entry.title,
            "section": " > ".join(chunk.section),
            "source": p.entry.source,
            "text": chunk.text,
        }


def chunk_id(entry: DocumentEntry, n: int) -> str:
    """Chunk ids name the document version, so a new version never overwrites the old."""
    return entry.chunk_id(n)


def old_chunk_ids(entry: DocumentEntry) -> list[str]:
    return [chunk_id(entry, n) for n in range(entry.chunks)]


def remove_document(rag: Rag, entry: DocumentEntry, *, wait_seconds: float | None = None) -> bool:
    """Remove a document: its entry first (queries stop serving it), then its chunks. Waits
    while an ingest is working on it, at most ``wait_seconds`` (default
    ``rag.event_wait_seconds``: a delete event fails and is delivered again); a document since
    indexed from another source stays (``False``).

    Raises:
        ClaimBusy: a live ingest still held the document after ``wait_seconds``.
    """
    wait = rag.config.event_wait_seconds if wait_seconds is None else wait_seconds
    claims = DocumentClaims(rag.kv, rag.collection, ttl=rag.config.claim_seconds, wait_seconds=wait)
    claims.take_waiting(entry.id)
    try:
        current = rag.documents.get(entry.id)
        if current is None or current.source != entry.source:
            return False
        rag.documents.remove(entry.id)
        rag.vectors.delete(rag.collection, old_chunk_ids(current))
        if entry.id in claims.inherited:
            sweep(rag, [entry.id])
        return True
    finally:
        claims.release_all()


def sweep(rag: Rag, doc_ids: list[str]) -> int:
    """Delete chunks of ``doc_ids`` that belong to no current version (an earlier run that
    stopped halfway); how many."""
    if not doc_ids:
        return 0
    current = rag.documents.hashes(doc_ids)
    stale = [
        r.id
        for r in rag.vectors.scan(rag.collection, {"doc_id": {"in": doc_ids}})
        if current.get(str(r.metadata.get("doc_id"))) != r.metadata.get("doc_hash")
    ]
    return rag.vectors.delete(rag.collection, stale)


def ingest(
    rag: Rag,
    source: str | os.PathLike[str],
    *,
    metadata: Mapping[str, Any] | None = None,
    reindex: bool = False,
    progress: Progress | None = None,
    allowed_roots: Sequence[str | Path] | None = None,
    waiting: OnWait | None = None,
) -> IngestReport:
    """Bring the index up to date with ``source``.

    Args:
        rag: The engine.
        source: A path (``str`` or ``Path``), ``file://``, ``s3://bucket/prefix`` or
            ``oci://bucket@ns/prefix``.
        metadata: Fields added to every chunk of this source (filterable): text, numbers,
            booleans, null, dates and datetimes.
        reindex: Drop the collection and its registry first (after changing the model).
        progress: Called after each document.
        allowed_roots: Folders the files of a local source must resolve into, links followed
            (the HTTP route passes ``rag.http_ingest_sources``); by default the source itself,
            so a link cannot lead out of the folder named. Files resolving into the service's
            ``data_dir`` are never read. Files not read are listed in ``skipped``.
        waiting: Called with a document and who holds it when the ingest starts waiting for
            a document another ingest is working on. One still held by a live ingest after
            ``rag.ingest_wait_seconds`` is listed in ``skipped`` with its holder.

    Raises:
        ValidationError: a bad ``metadata`` name or value (before the model loads or the
            collection is created), or a bad source.
        ConfigError: the chunk size does not fit the model, or the index was built with
            another embedding model (and ``reindex`` is false).
    """
    start = time.perf_counter()
    rag.refuse_ingest()
    extra = user_metadata(metadata or {})
    location = path_text(source, "source", what="a path or URL")
    confinement = Confinement.of(allowed_roots, denied=[rag.ctx.data_dir])
    # A missing path is refused before the model loads.
    with open_source(location, confinement) as opened:
        check_size(rag.embedder, rag.config.chunk_tokens, rag.config.chunk_overlap)
        if reindex:
            # Registry first: stopped between the two, the next ingest indexes everything
            # again, and chunks no entry names are never served (nor is a stale entry).
            rag.documents.clear()
            rag.vectors.drop_collection(rag.collection)
        rag.index_for_writing()
        run = _run(rag, opened, extra, progress, waiting=waiting)
    return _finish(rag, run, start)


def ingest_object(rag: Rag, store_url: str, key: str) -> IngestReport:
    """Index one object of a store (an upload event); the document id is ``key``.

    Raises:
        ClaimBusy: another live ingest held the document for ``rag.event_wait_seconds`` (a
            transient error: the event is delivered again).
    """
    start = time.perf_counter()
    rag.refuse_ingest()
    check_size(rag.embedder, rag.config.chunk_tokens, rag.config.chunk_overlap)
    rag.index_for_writing()
    with open_object(store_url, key) as opened:
        # A store that fails for a moment fails the event, which is delivered again; it is
        # not reported as a skipped document (nothing would index the upload later).
        wait = rag.config.event_wait_seconds
        run = _run(rag, opened, {}, None, retry_transient=True, wait_seconds=wait)
    return _finish(rag, run, start)


def _run(
    rag: Rag,
    opened: Source,
    extra: dict[str, Any],
    progress: Progress | None,
    *,
    waiting: OnWait | None = None,
    retry_transient: bool = False,
    wait_seconds: float | None = None,
) -> Ingestion:
    run = Ingestion(rag, opened.label, extra)
    run.claims.on_wait = waiting
    if wait_seconds is not None:
        run.claims.wait_seconds = wait_seconds
    run.report.ignored = sorted(opened.ignored)
    for refused in opened.refused:
        run.skip(refused["document"], refused["reason"])
    try:
        with run.claims.renewing():
            _index_all(run, opened, progress, retry_transient)
    finally:
        run.claims.release_all()
    if opened.complete:
        _remove_missing(run, opened, retry_transient)
    return run


def _index_all(
    run: Ingestion, opened: Source, progress: Progress | None, retry_transient: bool
) -> None:
    total = len(opened.documents)
    done = 0
    waiting = list(opened.documents)
    while waiting or run.unswept:
        deferred = []
        for info in waiting:
            if _consider(run, opened, info, retry_transient):
                done += 1
                if progress is not None:
                    progress(done, total, info.key)
            else:
                deferred.append(info)
        run.flush()
        run.sweep_lost()
        if retry_transient and run.lapsed:  # an event: delivered again, it indexes them then
            raise TransientError(
                f"documents {sorted(run.lapsed)} were not indexed: their claim lapsed before "
                "the flip (the kv store did not renew it)",
                hint="the event is delivered again",
            )
        # documents another ingest is working on: come back once one is free
        run.claims.wait([info.key for info in deferred] + sorted(run.unswept))
        given_up = _give_up(run, [info.key for info in deferred], retry_transient)
        waiting = [info for info in deferred if info.key not in given_up]


def _give_up(run: Ingestion, deferred: list[str], retry_transient: bool) -> set[str]:
    """Documents waited for too long: raised when the caller retries, else reported as
    skipped (chunks left to sweep are left to the next flip of their document)."""
    given_up = set()
    for busy in run.claims.overdue(deferred + sorted(run.unswept)):
        if retry_transient:
            raise busy
        given_up.add(busy.doc_id)
        if busy.doc_id in run.unswept:
            run.unswept.discard(busy.doc_id)
            log.warning("rag.stray_chunks_left", document=busy.doc_id, reason=busy.message)
        else:
            run.skip(busy.doc_id, busy.message)
    return given_up


def _remove_missing(run: Ingestion, opened: Source, retry_transient: bool) -> None:
    """Remove the indexed documents of the source it no longer lists; those under a folder or
    file the listing could not look at are kept as they are, and reported."""
    listed = {info.key for info in opened.documents}
    for entry in run.rag.documents.entries(opened.label):
        if entry.id in listed:
            continue
        where = opened.unchecked_under(entry.id)
        if where is None:
            if _remove_gone(run, entry, retry_transient):
                run.report.removed.append(entry.id)
        else:
            reason = f"kept as indexed, not checked: {where or '.'} {opened.unchecked[where]}"
            run.skip(entry.id, reason)


def _remove_gone(run: Ingestion, entry: DocumentEntry, retry_transient: bool) -> bool:
    try:
        return remove_document(run.rag, entry, wait_seconds=run.claims.wait_seconds)
    except ClaimBusy as exc:
        if retry_transient:
            raise
        run.skip(entry.id, f"not removed: {exc.message}")
        return False


def _consider(run: Ingestion, opened: Source, info: ObjectInfo, retry_transient: bool) -> bool:
    """``run.consider`` with a failing document reported as skipped (a transient failure
    raised when the caller retries); ``False`` when another ingest holds the document."""
    try:
        return run.consider(info, partial(opened.read, info.key))
    except SkybridgeError as exc:
        if retry_transient and isinstance(exc, TransientError):
            raise
        run.skip(info.key, str(exc))  # a failed batch has reported it already
        return True


def _finish(rag: Rag, run: Ingestion, start: float) -> IngestReport:
    rag.vectors.flush()
    run.report.seconds = round(time.perf_counter() - start, 3)
    log.info(
        "rag.ingested",
        source=run.label,
        added=len(run.report.added),
        updated=len(run.report.updated),
        removed=len(run.report.removed),
        chunks=run.report.chunks,
    )
    return run.report

"""Two ingests of the same source at once share the documents instead of both doing each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.rag import ingest as ingest_module
from skybridge.apps.rag.answers import query
from skybridge.apps.rag.claims import ClaimBusy, DocumentClaims
from skybridge.apps.rag.embedding_cache import EmbeddingCache
from skybridge.apps.rag.handlers import ObjectEvent, apply
from skybridge.apps.rag.ingest import IngestReport, ingest, ingest_object, remove_document
from skybridge.apps.rag.service import Rag, open_rag
from skybridge.backends.vectors import VectorRecord
from skybridge.core.clock import ManualClock
from skybridge.core.errors import TransientError
from skybridge.runtime.holders import describe, this_process
from skybridge.runtime.leases import LeaseManager

from .conftest import rag_context

DOCS = {
    f"note{n:02d}.md": f"# Note {n}\n\nRunbook step {n}: check the queue depth of service {n} "
    f"and restart worker {n} when it stays above {n * 10} messages for five minutes.\n"
    for n in range(12)
}


def ingest_in_thread(source: Path, reports: list[IngestReport], errors: list[BaseException]) -> Any:
    def work() -> None:
        try:
            with open_rag(rag_context()) as rag:
                reports.append(ingest(rag, source))
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    return threading.Thread(target=work)


def test_two_concurrent_ingests_index_each_document_once(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_docs(DOCS)
    embedded: list[str] = []
    real_embed = EmbeddingCache.embed

    def slow_embed(self: EmbeddingCache, texts: list[str]) -> Any:
        embedded.extend(texts)
        time.sleep(0.2)  # both ingests are surely at work at once
        return real_embed(self, texts)

    monkeypatch.setattr(EmbeddingCache, "embed", slow_embed)
    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", 1)  # a flush per document
    reports: list[IngestReport] = []
    errors: list[BaseException] = []
    threads = [ingest_in_thread(source, reports, errors) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    first, second = reports
    assert sorted(first.added + second.added) == sorted(DOCS)  # each document by one ingest
    assert first.added  # and the work was shared
    assert second.added
    assert first.unchanged + second.unchanged == len(DOCS)
    assert len(embedded) == len(set(embedded)) == first.chunks + second.chunks
    assert len(rag.documents.entries()) == len(DOCS)
    assert rag.vectors.count(rag.collection) == first.chunks + second.chunks
    claims = DocumentClaims(rag.kv, rag.collection)
    assert all(claims.leases.holder(d) is None for d in DOCS)  # every claim given back


def test_a_document_claimed_by_another_ingest_is_indexed_after_it_in_its_newest_version(
    write_docs: Callable[..., Path], rag: Any
) -> None:
    source = write_docs(DOCS)
    other = DocumentClaims(rag.kv, rag.collection)
    assert other.take("note03.md")
    reports: list[IngestReport] = []
    errors: list[BaseException] = []
    thread = ingest_in_thread(source, reports, errors)
    thread.start()
    deadline = time.monotonic() + 120
    while len(rag.documents.entries()) < len(DOCS) - 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert thread.is_alive()  # the others are indexed; it waits for the claimed one
    assert rag.documents.get("note03.md") is None
    (source / "note03.md").write_text("# Note 3\n\nThe pager rotation changes every Thursday.\n")
    other.release_all()
    thread.join(120)
    assert not errors
    assert sorted(reports[0].added) == sorted(DOCS)
    hits = query(rag, "pager rotation Thursday", k=1, mode="bm25").hits
    assert [h.document for h in hits] == ["note03.md"]


# An ingest killed while holding a claim, a holder that stays too long, and a claim that lapses
# mid-batch: bounded waits and no chunks left behind.

V1 = "# Note\n\nRestart the worker when the queue depth stays above 40 messages.\n"
V2 = "# Note\n\nPage the secondary when the queue depth stays above 90 messages for an hour.\n"
_CLAIM_AND_DIE = """
import os, signal, sys
from skybridge.apps.rag.claims import DocumentClaims
from skybridge.backends.kv.sqlite import SQLiteStore
assert DocumentClaims(SQLiteStore(sys.argv[1]), sys.argv[2], ttl=3600).take(sys.argv[3])
os.kill(os.getpid(), signal.SIGKILL)
"""


def claim_in_killed_process(rag: Any, doc_id: str) -> None:
    """Leave a claim on ``doc_id`` the way a killed ingest does: never given back."""
    done = subprocess.run(
        [sys.executable, "-c", _CLAIM_AND_DIE, rag.kv.path, rag.collection, doc_id],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert DocumentClaims(rag.kv, rag.collection).leases.holder(doc_id) is not None


def finishes(work: Callable[[], Any], seconds: float = 120) -> Any:
    """``work()``'s result; fails (instead of hanging the run) if it never returns."""
    out: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still waiting after {seconds} s"
    if errors:
        raise errors[0]
    return out[0]


def with_settings(rag: Rag, monkeypatch: pytest.MonkeyPatch, **values: float) -> None:
    """Give ``rag`` these ``[rag]`` settings for the rest of the test."""
    config = rag.config.model_copy(update=values)
    monkeypatch.setattr(rag, "ctx", replace(rag.ctx, config=config))


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


def test_a_claim_left_by_a_killed_ingest_is_taken_over_at_once(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_settings(rag, monkeypatch, ingest_wait_seconds=3600.0, event_wait_seconds=900.0)
    source = write_docs(DOCS)
    claim_in_killed_process(rag, "note03.md")
    report = finishes(lambda: ingest(rag, source))
    assert sorted(report.added) == sorted(DOCS)
    assert not report.skipped

    entry = rag.documents.get("note05.md")
    claim_in_killed_process(rag, "note05.md")
    assert finishes(lambda: remove_document(rag, entry))
    assert rag.documents.get("note05.md") is None


def test_an_ingest_says_whom_it_waits_for_and_gives_up_on_a_document_held_too_long(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_settings(rag, monkeypatch, ingest_wait_seconds=0.3)
    source = write_docs(DOCS)
    other = DocumentClaims(rag.kv, rag.collection)  # a live ingest (this process) keeps it
    assert other.take("note03.md")
    waits: list[tuple[str, str]] = []
    report = finishes(lambda: ingest(rag, source, waiting=lambda *w: waits.append(w)))
    holder = describe(this_process())
    assert waits == [("note03.md", holder)]
    assert sorted(report.added) == sorted(set(DOCS) - {"note03.md"})
    [skipped] = report.skipped
    assert skipped["document"] == "note03.md"
    assert holder in skipped["reason"]
    assert other.keep("note03.md")  # still the other one's


def test_a_delete_event_for_a_document_held_too_long_fails_to_be_delivered_again(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_settings(rag, monkeypatch, event_wait_seconds=0.3)
    ingest(rag, write_docs(DOCS))
    other = DocumentClaims(rag.kv, rag.collection)
    assert other.take("note03.md")
    with pytest.raises(ClaimBusy) as raised:
        finishes(lambda: apply(rag, [ObjectEvent("s3://docs", "note03.md", False)]))
    assert isinstance(raised.value, TransientError)  # the handler lets it through: redelivered
    assert "'note03.md'" in str(raised.value)
    assert describe(this_process()) in str(raised.value)
    assert rag.documents.get("note03.md") is not None
    other.release_all()
    assert apply(rag, [ObjectEvent("s3://docs", "note03.md", False)])[0]["removed"]


def test_claims_take_their_times_from_the_rag_settings(
    write_docs: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``rag.claim_seconds`` is how long every claim lasts, ``rag.ingest_wait_seconds`` how
    long an ingest waits for a document and ``rag.event_wait_seconds`` how long an upload or
    delete event does."""
    monkeypatch.setenv("SKYBRIDGE__RAG__CLAIM_SECONDS", "12")
    monkeypatch.setenv("SKYBRIDGE__RAG__INGEST_WAIT_SECONDS", "34")
    monkeypatch.setenv("SKYBRIDGE__RAG__EVENT_WAIT_SECONDS", "5.5")
    made: list[DocumentClaims] = []
    lasts: list[float] = []
    real_take = DocumentClaims.take

    def recorded(*args: Any, **kwargs: Any) -> DocumentClaims:
        claims = DocumentClaims(*args, **kwargs)
        made.append(claims)
        return claims

    def take(claims: DocumentClaims, doc_id: str) -> bool:
        taken = real_take(claims, doc_id)
        lease = claims.held.get(doc_id)
        if lease is not None:
            lasts.append(lease.expires_at - time.time())
        return taken

    monkeypatch.setattr(ingest_module, "DocumentClaims", recorded)
    monkeypatch.setattr(DocumentClaims, "take", take)
    source = write_docs({"note.md": V1})
    with open_rag(rag_context()) as rag:
        ingest(rag, source)
        (source / "note.md").write_text(V2)
        ingest_object(rag, f"file://{source}", "note.md")
        apply(rag, [ObjectEvent(f"file://{source}", "note.md", False)])
    assert [(c.ttl, c.wait_seconds) for c in made] == [(12.0, 34.0), (12.0, 5.5), (12.0, 5.5)]
    assert len(lasts) == 3
    assert all(10.0 < last <= 12.0 for last in lasts), lasts


def test_claims_are_renewed_while_a_batch_embeds(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_docs({"note.md": V1})
    clock = ManualClock(time.time())
    with_settings(rag, monkeypatch, claim_seconds=10.0)
    claims = partial(DocumentClaims, clock=clock, renew_every=0.01)
    monkeypatch.setattr(ingest_module, "DocumentClaims", claims)
    watcher = LeaseManager(rag.kv, prefix=f"rag/{rag.collection}/claim/", clock=clock)
    real_embed = EmbeddingCache.embed

    def renewed() -> bool:
        lease = watcher.holder("note.md")
        return lease is not None and lease.expires_at >= clock.now() + 9

    def slow_embed(self: EmbeddingCache, texts: list[str]) -> Any:
        for _ in range(3):  # 18 s in all: longer than a claim lasts unrenewed
            clock.advance(6)
            wait_until(renewed, "the claim renewed while the batch embeds")
        return real_embed(self, texts)

    monkeypatch.setattr(EmbeddingCache, "embed", slow_embed)
    report = ingest(rag, source)
    assert report.added == ["note.md"]
    assert not report.skipped


def test_an_ingest_that_lost_its_claim_deletes_the_chunks_it_wrote(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_docs({"note.md": V1})
    ingest(rag, source)
    (source / "note.md").write_text(V2)
    clock = ManualClock(time.time())
    with_settings(rag, monkeypatch, claim_seconds=10.0)
    claims = partial(DocumentClaims, clock=clock, renew_every=3600.0)  # never renewed
    monkeypatch.setattr(ingest_module, "DocumentClaims", claims)
    real_embed = EmbeddingCache.embed
    others: list[IngestReport] = []

    def embed_past_the_claim(self: EmbeddingCache, texts: list[str]) -> Any:
        if not others:
            clock.advance(11)  # the claim lapses while the batch embeds
            (source / "note.md").write_text(V1)  # and the content goes back
            os.utime(source / "note.md", (1_000_000_000, 1_000_000_000))
            others.append(ingest(rag, source))  # another ingest takes it over: unchanged
        return real_embed(self, texts)

    monkeypatch.setattr(EmbeddingCache, "embed", embed_past_the_claim)
    report = ingest(rag, source)
    assert others[0].unchanged == 1
    (skipped,) = report.skipped  # the other one gave it back: nobody holds it now
    assert skipped["document"] == "note.md"
    assert "lapsed" in skipped["reason"]
    entry = rag.documents.get("note.md")
    chunks = list(rag.vectors.scan(rag.collection, {"doc_id": {"in": ["note.md"]}}))
    assert {r.metadata["doc_hash"] for r in chunks} == {entry.hash}
    assert len(chunks) == entry.chunks
    assert DocumentClaims(rag.kv, rag.collection).leases.holder("note.md") is None


def test_chunks_left_by_a_killed_ingest_are_swept_though_the_document_is_unchanged(
    write_docs: Callable[..., Path], rag: Any
) -> None:
    source = write_docs({"note.md": V1})
    ingest(rag, source)
    entry = rag.documents.get("note.md")
    # killed after writing a new version's chunks, before its flip
    [record] = list(rag.vectors.scan(rag.collection, {"doc_id": {"in": ["note.md"]}}, vectors=True))
    stray = VectorRecord("note.md#0123456789ab#0", record.vector, {**record.metadata})
    stray.metadata["doc_hash"] = "0123456789ab" + "0" * 52
    rag.vectors.upsert(rag.collection, [stray])
    claim_in_killed_process(rag, "note.md")
    os.utime(source / "note.md", (1_000_000_000, 1_000_000_000))  # read again: same content
    report = finishes(lambda: ingest(rag, source))
    assert report.unchanged == 1
    chunks = list(rag.vectors.scan(rag.collection, {"doc_id": {"in": ["note.md"]}}))
    assert [r.id for r in chunks] == [record.id]
    assert rag.documents.get("note.md").hash == entry.hash


def _lapse_while_embedding(rag: Rag, monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims are never renewed, and expire while the batch embeds; nobody takes them."""
    clock = ManualClock(time.time())
    with_settings(rag, monkeypatch, claim_seconds=10.0)
    claims = partial(DocumentClaims, clock=clock, renew_every=3600.0)
    monkeypatch.setattr(ingest_module, "DocumentClaims", claims)
    real_embed = EmbeddingCache.embed

    def embed_past_the_claim(self: EmbeddingCache, texts: list[str]) -> Any:
        clock.advance(11)
        return real_embed(self, texts)

    monkeypatch.setattr(EmbeddingCache, "embed", embed_past_the_claim)


def test_a_claim_that_lapsed_with_nobody_taking_it_says_so_and_fails_an_event(
    write_docs: Callable[..., Path], rag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_docs({"note.md": V1})
    _lapse_while_embedding(rag, monkeypatch)
    report = ingest(rag, source)
    (skipped,) = report.skipped
    assert skipped["document"] == "note.md"
    assert "lapsed" in skipped["reason"]
    assert rag.documents.get("note.md") is None
    assert list(rag.vectors.scan(rag.collection)) == []  # its chunks swept
    with pytest.raises(TransientError, match="claim lapsed"):  # an event is delivered again
        ingest_module.ingest_object(rag, f"file://{source}", "note.md")
    assert rag.documents.get("note.md") is None

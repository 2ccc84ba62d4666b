"""Two ingests of the same source at once share the documents instead of both doing each."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.rag import ingest as ingest_module
from skybridge.apps.rag.answers import query
from skybridge.apps.rag.claims import DocumentClaims
from skybridge.apps.rag.embedding_cache import EmbeddingCache
from skybridge.apps.rag.ingest import IngestReport, ingest
from skybridge.apps.rag.service import open_rag

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

"""Ingest under failures: a folder or file that cannot be looked at, a batch that fails to embed
or write, a reindex stopped halfway, a collection dropped under its registry."""

from __future__ import annotations

import dataclasses
import errno
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.apps.rag.conftest import rag_context

from skybridge.apps.rag import ingest as ingest_module
from skybridge.apps.rag.answers import query
from skybridge.apps.rag.documents import DocumentRegistry
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import Rag, open_rag
from skybridge.core.errors import TransientError

TEAM = {
    "top.md": "# Top\n\nThe top policy covers every office.\n",
    "team/rota.md": "# Rota\n\nThe rota swaps owners every Monday at noon.\n",
    "team/budget.md": "# Budget\n\nThe budget is reviewed by finance each quarter.\n",
}


def _documents(rag: Rag, text: str) -> set[str]:
    return {h.document for h in query(rag, text, k=20, record=False).hits}


def _write(folder: Path, docs: dict[str, str]) -> Path:
    for name, text in docs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _failing_scandir(monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    real = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith(suffix):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)


def test_a_folder_that_cannot_be_listed_keeps_its_documents(
    rag: Rag, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _write(workdir / "docs", TEAM)
    assert sorted(ingest(rag, folder).added) == ["team/budget.md", "team/rota.md", "top.md"]
    with monkeypatch.context() as patch:
        _failing_scandir(patch, "/team")
        report = ingest(rag, folder)
    assert report.removed == []
    kept = "kept as indexed, not checked: team/ cannot be listed: Input/output error"
    assert report.skipped == [
        {"document": "team/", "reason": "cannot be listed: Input/output error"},
        {"document": "team/budget.md", "reason": kept},
        {"document": "team/rota.md", "reason": kept},
    ]
    assert len(rag.documents.entries()) == 3
    assert "team/rota.md" in _documents(rag, "rota owners Monday")
    # Listed again, a document really gone is removed.
    (folder / "team" / "rota.md").unlink()
    assert ingest(rag, folder).removed == ["team/rota.md"]


def test_a_file_that_cannot_be_looked_at_keeps_its_document(
    rag: Rag, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _write(workdir / "docs", TEAM)
    ingest(rag, folder)
    real = Path.stat

    def stat(self: Path, **kwargs: Any) -> os.stat_result:
        if self.name == "budget.md":
            raise OSError(errno.ESTALE, os.strerror(errno.ESTALE))
        return real(self, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "stat", stat)
        report = ingest(rag, folder)
    assert report.removed == []
    assert [s["document"] for s in report.skipped] == ["team/budget.md"]
    assert "Stale file handle" in report.skipped[0]["reason"]
    assert "team/budget.md" in _documents(rag, "budget finance quarter")


NOTES = {
    f"note{n}.md": f"# Note {n}\n\nStep {n} restarts worker {n} after {n} minutes.\n"
    for n in range(6)
}


@pytest.mark.parametrize("boundary", ["embed", "upsert"])
def test_a_failed_batch_reports_each_of_its_documents_and_the_next_ingest_indexes_them(
    rag: Rag,
    workdir: Path,
    monkeypatch: pytest.MonkeyPatch,
    boundary: str,
) -> None:
    folder = _write(workdir / "docs", NOTES)
    # Three chunks a batch (a note is one chunk): the first batch flushes in queue().
    monkeypatch.setattr(ingest_module, "BATCH_CHUNKS", 3)
    _ = (rag.embedder.dimension, rag.embedder.fingerprint)  # probed now, not in the batch
    target = rag.embedder if boundary == "embed" else rag.vectors
    real = getattr(target, boundary)
    calls = []

    def fail_first(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == 1:
            raise TransientError(f"{boundary}: 503")
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(target, boundary, fail_first)
        report = ingest(rag, folder)
    first = ["note0.md", "note1.md", "note2.md"]
    assert report.skipped == [
        {"document": doc, "reason": f"not indexed, its batch failed: {boundary}: 503"}
        for doc in first
    ]
    assert report.added == ["note3.md", "note4.md", "note5.md"]
    assert sorted(e.id for e in rag.documents.entries()) == report.added
    again = ingest(rag, folder)
    assert (again.added, again.unchanged, again.skipped) == (first, 3, [])


def test_a_reindex_stopped_before_the_drop_leaves_the_index_serving(
    rag: Rag, write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_docs()
    ingest(rag, folder)

    def throttled(self: DocumentRegistry) -> int:
        raise TransientError("kv: throttled")

    with monkeypatch.context() as patch:
        patch.setattr(DocumentRegistry, "clear", throttled)
        with pytest.raises(TransientError):
            ingest(rag, folder, reindex=True)
    assert "backups.md" in _documents(rag, "restore drill backups")
    assert ingest(rag, folder).unchanged == 4


def test_a_reindex_stopped_after_clearing_serves_no_stale_chunk(
    rag: Rag, write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_docs()
    ingest(rag, folder)

    def dropped(name: str) -> bool:
        raise TransientError("vectors: 503")

    with monkeypatch.context() as patch:
        patch.setattr(rag.vectors, "drop_collection", dropped)
        with pytest.raises(TransientError):
            ingest(rag, folder, reindex=True)
    assert rag.vectors.count(rag.collection) > 0  # the old chunks are all there...
    assert _documents(rag, "restore drill backups") == set()  # ...and none is served
    (folder / "backups.md").unlink()
    report = ingest(rag, folder)
    assert sorted(report.added) == ["faq.txt", "guide.html", "oncall.md"]
    assert rag.vectors.count(rag.collection, {"doc_id": "backups.md"}) > 0
    assert "backups.md" not in _documents(rag, "restore drill backups")
    assert "oncall.md" in _documents(rag, "who acknowledges a page")


@pytest.mark.parametrize("recorded", [True, False], ids=["generation", "no-generation"])
def test_a_collection_dropped_under_its_registry_is_indexed_again(
    rag: Rag, write_docs: Callable[..., Path], recorded: bool
) -> None:
    folder = write_docs()
    ingest(rag, folder)
    assert ingest(rag, folder).unchanged == 4  # a collection still there is trusted
    if not recorded:  # a registry written before generations were recorded
        rag.kv.delete(rag.documents.generation_key)
        assert ingest(rag, folder).unchanged == 4  # its collection still there is trusted
        rag.kv.delete(rag.documents.generation_key)
    rag.vectors.drop_collection(rag.collection)  # as a reindex stopped before the clear did
    report = ingest(rag, folder)
    assert sorted(report.added) == ["backups.md", "faq.txt", "guide.html", "oncall.md"]
    assert "backups.md" in _documents(rag, "restore drill backups")
    assert ingest(rag, folder).unchanged == 4


@pytest.fixture(params=["embedded", pytest.param("pgvector", marks=pytest.mark.postgres)])
def counting_0(
    request: pytest.FixtureRequest, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[Rag], None]]:
    """Configures the vectors backend; yields what makes its collection count 0 while holding
    its chunks (as a pgvector collection made before collections kept their count)."""
    if request.param == "embedded":

        def embedded(rag: Rag) -> None:
            ensure = rag.vectors.ensure_collection
            monkeypatch.setattr(
                rag.vectors,
                "ensure_collection",
                lambda *a, **kw: dataclasses.replace(ensure(*a, **kw), count=0),
            )

        yield embedded
        return
    server = request.getfixturevalue("postgres_server")
    prefix = f"rag{uuid.uuid4().hex[:8]}"
    url = server.url.replace("postgresql://", "pgvector://")
    url += f"{'&' if '?' in url else '?'}prefix={prefix}"
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__VECTORS", url)

    def pgvector(rag: Rag) -> None:
        with psycopg.connect(server.url, autocommit=True) as conn:
            conn.execute(f"UPDATE {prefix}__collections SET count = 0")

    yield pgvector
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {prefix}_{rag_context().config.collection}")
        conn.execute(f"DROP TABLE IF EXISTS {prefix}__collections, {prefix}__deleted")
        conn.execute(f"DROP FUNCTION IF EXISTS {prefix}__feed_guard()")
        conn.execute("DELETE FROM skybridge_schema WHERE component = %s", (f"pgvector:{prefix}",))


def test_a_registry_from_before_generations_is_kept_while_its_chunks_are_there(
    write_docs: Callable[..., Path], counting_0: Callable[[Rag], None]
) -> None:
    """The first ingest after generations were recorded, on a collection whose count reads 0
    while it holds every chunk, empties nothing: the documents of every source stay served."""
    folder = write_docs()
    other = write_docs({"notes.md": "Leave requests go to the people team portal."}, "other")
    with open_rag(rag_context()) as rag:
        ingest(rag, folder)
        ingest(rag, other)
        rag.kv.delete(rag.documents.generation_key)  # a registry written before generations
        counting_0(rag)
        assert ingest(rag, folder).unchanged == 4
        assert len(rag.documents.entries()) == 5  # the other source's entry too
        assert "notes.md" in _documents(rag, "leave requests people team portal")
        assert rag.kv.get(rag.documents.generation_key) is not None  # bound to it from now on

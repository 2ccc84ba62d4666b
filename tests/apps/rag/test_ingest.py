"""Ingest: only changed documents, no leak of deleted ones, atomic replace, model fingerprints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from skybridge.apps.rag.answers import query
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import Rag, open_rag
from skybridge.core.errors import ConfigError, TerminalError, ValidationError
from skybridge.testing.genai import GenAiServer

from .conftest import rag_context


def _documents(rag: Rag, text: str, k: int = 20) -> set[str]:
    return {h.document for h in query(rag, text, k=k, record=False).hits}


def test_reingest_touches_only_changed_documents(rag: Rag, write_docs: Callable[..., Path]) -> None:
    folder = write_docs()
    first = ingest(rag, str(folder))
    assert sorted(first.added) == ["backups.md", "faq.txt", "guide.html", "oncall.md"]
    again = ingest(rag, str(folder))
    assert (again.added, again.updated, again.removed, again.chunks) == ([], [], [], 0)
    assert again.unchanged == 4
    (folder / "faq.txt").write_text("Dashboards now live in the new observability portal.")
    changed = ingest(rag, str(folder))
    assert changed.updated == ["faq.txt"]
    assert changed.unchanged == 3
    hits = query(rag, "where are dashboards", k=20, record=False).hits
    faq = [h for h in hits if h.document == "faq.txt"]
    assert faq
    assert all("observability portal" in h.text for h in faq)


def test_deleted_documents_never_come_back(rag: Rag, write_docs: Callable[..., Path]) -> None:
    folder = write_docs()
    ingest(rag, str(folder))
    assert "backups.md" in _documents(rag, "restore drill backups")
    (folder / "backups.md").unlink()
    report = ingest(rag, str(folder))
    assert report.removed == ["backups.md"]
    assert "backups.md" not in _documents(rag, "restore drill backups")
    assert rag.vectors.count(rag.collection, {"doc_id": "backups.md"}) == 0
    again = ingest(rag, str(folder))
    assert again.removed == []
    assert "backups.md" not in _documents(rag, "restore drill backups")


def test_one_named_file_does_not_remove_its_siblings(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    folder = write_docs()
    ingest(rag, str(folder))
    report = ingest(rag, str(folder / "faq.txt"))
    assert report.removed == []
    assert len(rag.documents.entries()) == 4


def test_a_failed_replace_keeps_the_old_version_then_cleans_up(
    rag: Rag, write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_docs()
    ingest(rag, str(folder))
    before = rag.vectors.count(rag.collection)
    (folder / "backups.md").write_text("# Backups\n\nBackups now run hourly to tape in Lisbon.")
    registry = type(rag.documents)
    original = registry.put

    def crash(self: object, entry: object) -> None:
        raise TerminalError("the kv store went away")

    monkeypatch.setattr(registry, "put", crash)
    with pytest.raises(TerminalError):
        ingest(rag, str(folder))
    monkeypatch.setattr(registry, "put", original)
    assert rag.vectors.count(rag.collection) > before  # new chunks were written...
    hits = query(rag, "backup schedule", k=20, record=False).hits
    texts = " ".join(h.text for h in hits if h.document == "backups.md")
    assert "02:00 UTC" in texts  # ...but the old version is what queries see
    assert "Lisbon" not in texts
    report = ingest(rag, str(folder))
    assert report.updated == ["backups.md"]
    assert rag.vectors.count(rag.collection, {"doc_id": "backups.md"}) == 1
    assert "Lisbon" in " ".join(h.text for h in query(rag, "tape", k=20, record=False).hits)


def test_an_unreadable_document_is_skipped_whole(rag: Rag, write_docs: Callable[..., Path]) -> None:
    folder = write_docs({"good.md": "# Good\n\nFine text.", "bad.pdf": "not a pdf at all"})
    report = ingest(rag, str(folder))
    assert report.added == ["good.md"]
    assert report.skipped[0]["document"] == "bad.pdf"
    assert rag.vectors.count(rag.collection, {"doc_id": "bad.pdf"}) == 0


def test_files_of_no_indexed_type_are_listed_as_ignored(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    folder = write_docs({"good.md": "# Good\n\nFine text.", "notes.xyz": "x", "b.csv": "a,b"})
    report = ingest(rag, str(folder))
    assert (report.added, report.ignored) == (["good.md"], ["b.csv", "notes.xyz"])
    assert report.to_dict()["ignored"] == ["b.csv", "notes.xyz"]


def test_links_leave_neither_the_folder_nor_reach_the_data_folder(
    rag: Rag, write_docs: Callable[..., Path], workdir: Path
) -> None:
    folder = write_docs({"good.md": "# Good\n\nFine text."})
    (workdir / "vault.md").write_text("# Vault\n\nThe root password is tangerine.")
    (folder / "vault.md").symlink_to(workdir / "vault.md")
    # Wider roots let the link in (as an HTTP allow-list holding both folders would).
    wider = ingest(rag, str(folder), allowed_roots=[folder, workdir / "vault.md"])
    assert wider.added == ["good.md", "vault.md"]
    # By default the folder named is the only root: the link is skipped, and the document
    # an earlier run took in through it is removed.
    report = ingest(rag, str(folder))
    assert report.skipped == [{"document": "vault.md", "reason": "outside the allowed sources"}]
    assert report.removed == ["vault.md"]
    assert "vault.md" not in _documents(rag, "root password tangerine")
    # The service's data folder is never read, even inside the roots.
    (rag.ctx.data_dir / "notes.md").write_text("# Notes\n\nInternal.")
    (folder / "notes.md").symlink_to(rag.ctx.data_dir.resolve() / "notes.md")
    report = ingest(rag, str(folder), allowed_roots=[workdir])
    assert report.skipped == [
        {"document": "notes.md", "reason": "inside the service's own data folder"}
    ]


def test_user_metadata_is_filterable_and_own_fields_are_protected(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    ingest(rag, str(write_docs(folder="ops")), metadata={"team": "ops"})
    ingest(
        rag,
        str(
            write_docs({"sales.md": "# Sales\n\nPages are acknowledged by sales."}, folder="sales")
        ),
        metadata={"team": "sales"},
    )
    hits = query(rag, "acknowledge a page", k=10, filters={"team": "sales"}, record=False).hits
    assert {h.document for h in hits} == {"sales.md"}
    with pytest.raises(ValidationError, match="set by skybridge"):
        ingest(rag, str(write_docs()), metadata={"text": "x"})
    with pytest.raises(ValidationError):
        query(rag, "x", filters={"text": "y"}, record=False)


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"team": {"x": 1}}, r"metadata\['team'\]: dict is not a metadata value"),
        ({"team": ["ops"]}, r"metadata\['team'\]: list is not a metadata value"),
        ({"score": float("nan")}, r"metadata\['score'\]: nan is not a finite number"),
        ({"bad name": "x"}, r"metadata field 'bad name' is not a valid name"),
        (["team", "ops"], r"metadata must be a mapping of field to value, got list"),
    ],
)
def test_bad_metadata_is_refused_before_anything_loads_or_is_created(
    rag: Rag,
    write_docs: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    metadata: object,
    message: str,
) -> None:
    fresh = rag.with_collection("fresh")
    monkeypatch.setattr(type(fresh.ctx), "connect", _no_backend)  # no model is loaded
    with pytest.raises(ValidationError, match=message):
        ingest(fresh, str(write_docs()), metadata=metadata)  # type: ignore[arg-type]
    assert fresh.describe() is None  # no collection was created...
    assert fresh.documents.entries() == []  # ...and no document registered


def _no_backend(*_: object, **__: object) -> None:
    raise AssertionError("a backend was connected")


def test_good_metadata_values_are_kept_on_every_chunk(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    meta = {"team": "ops", "year": 2024, "weight": 0.5, "public": False, "owner": None}
    ingest(rag, write_docs(), metadata=meta)  # a Path is a source too
    hits = query(rag, "restore drill", k=3, filters={"year": 2024}, record=False).hits
    assert hits
    assert all({k: h.metadata[k] for k in meta} == meta for h in hits)


def test_a_source_of_another_type_is_bad_input(rag: Rag) -> None:
    with pytest.raises(ValidationError, match="source must be a path or URL"):
        ingest(rag, None)  # type: ignore[arg-type]


def test_other_metadata_reindexes_unchanged_documents(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    folder = str(write_docs(folder="ops"))
    first = ingest(rag, folder, metadata={"src": "s3"})
    assert first.added
    assert first.unchanged == 0
    assert ingest(rag, folder, metadata={"src": "s3"}).unchanged == len(first.added)
    again = ingest(rag, folder, metadata={"src": "oci"})
    assert sorted(again.updated) == sorted(first.added)  # not "unchanged": the meta changed
    for src, found in (("oci", True), ("s3", False)):
        hits = query(rag, "acknowledge a page", k=10, filters={"src": src}, record=False).hits
        assert bool(hits) is found, src


def test_a_missing_source_is_bad_input(rag: Rag) -> None:
    with pytest.raises(ValidationError, match="no file or folder"):
        ingest(rag, "/no/such/folder")


def test_another_model_of_the_same_dimension_is_refused(
    rag: Rag, write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(rag, str(write_docs()))
    with GenAiServer() as server:
        monkeypatch.setenv(
            "SKYBRIDGE__BACKENDS__EMBEDDINGS",
            f"openai+http://127.0.0.1:{server.port}/v1?model=other&dimensions=384",
        )
        with open_rag(rag_context()) as other:
            assert other.embedder.dimension == rag.embedder.dimension == 384
            with pytest.raises(ConfigError, match="cannot be compared") as caught:
                query(other, "backups", record=False)
            assert caught.value.setting == "backends.embeddings"
            with pytest.raises(ConfigError, match="--reindex"):
                ingest(other, str(write_docs()))
            report = ingest(other, str(write_docs()), reindex=True)
            assert len(report.added) == 4
            assert query(other, "backups", record=False).hits


def test_a_chunk_size_over_the_window_stops_ingest_before_writing(
    workdir: Path, write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_TOKENS", "400")
    with open_rag(rag_context()) as rag:
        with pytest.raises(ConfigError, match="silently drop"):
            ingest(rag, str(write_docs()))
        assert rag.describe() is None

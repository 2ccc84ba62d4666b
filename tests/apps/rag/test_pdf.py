"""PDF ingest end to end: a real PDF (made here by matplotlib's PDF backend, fonts embedded with
a ToUnicode map as a word processor's export has) is read by pypdf, split by page, indexed and
cited."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from pypdf import PdfReader

from skybridge.apps.rag.answers import ask, query
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.parsing import parse
from skybridge.apps.rag.service import Rag
from skybridge.core.errors import ValidationError

PAGES = (
    "Base backups of every database run nightly at 02:00 UTC and are kept for 35 days.",
    "A restore drill runs on the first Tuesday of every month, led by the platform team.",
)
TITLE = "Database backup policy"


def make_pdf(pages: tuple[str, ...] = PAGES, title: str = TITLE) -> bytes:
    """A PDF with one line of text per page and ``title`` in its document information."""
    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title}) as pdf:
        for text in pages:
            figure = Figure(figsize=(8, 2))
            figure.text(0.02, 0.5, text, fontsize=9)
            pdf.savefig(figure)
    return buffer.getvalue()


@pytest.fixture
def pdf_bytes() -> bytes:
    with pytest.MonkeyPatch.context() as patch:
        import matplotlib

        patch.setitem(matplotlib.rcParams, "pdf.fonttype", 42)  # TrueType, extractable text
        return make_pdf()


def test_the_fixture_is_a_pdf_pypdf_reads(pdf_bytes: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    assert pdf_bytes.startswith(b"%PDF-")
    assert len(reader.pages) == 2
    assert "02:00 UTC" in reader.pages[0].extract_text()


def test_a_pdf_parses_into_one_section_per_page_titled_by_its_metadata(
    pdf_bytes: bytes,
) -> None:
    parsed = parse("policies/backups.pdf", pdf_bytes)
    assert parsed.title == TITLE
    assert [s.path for s in parsed.sections] == [("page 1",), ("page 2",)]
    assert [" ".join(s.text.split()) for s in parsed.sections] == list(PAGES)


def test_a_pdf_is_ingested_queried_and_cited_by_page(
    rag: Rag, workdir: Path, pdf_bytes: bytes
) -> None:
    folder = workdir / "pdfs"
    folder.mkdir()
    (folder / "backups.pdf").write_bytes(pdf_bytes)
    (folder / "faq.txt").write_text("Dashboards are linked from the service catalogue.")
    report = ingest(rag, str(folder))
    assert sorted(report.added) == ["backups.pdf", "faq.txt"]
    assert report.skipped == []
    assert rag.vectors.count(rag.collection, {"doc_id": "backups.pdf"}) == 2
    hits = query(rag, "When does the restore drill run?", k=3, record=False).hits
    assert (hits[0].document, hits[0].metadata["section"]) == ("backups.pdf", "page 2")
    assert hits[0].title == TITLE
    result = ask(rag, "When does the restore drill run?", k=3, record=False)
    cited = {(c.document, c.chunk) for c in result.answer.citations}
    assert ("backups.pdf", hits[0].chunk) in cited
    assert "first Tuesday" in result.answer.text


def test_a_pdf_without_extractable_text_is_not_indexed_as_empty(
    rag: Rag, workdir: Path, pdf_bytes: bytes
) -> None:
    folder = workdir / "pdfs"
    folder.mkdir()
    (folder / "blank.pdf").write_bytes(make_pdf(pages=("",), title=""))
    (folder / "broken.pdf").write_bytes(pdf_bytes[: len(pdf_bytes) // 3])
    report = ingest(rag, str(folder))
    assert report.added == []
    assert rag.vectors.count(rag.collection, {"doc_id": "blank.pdf"}) == 0
    assert rag.vectors.count(rag.collection, {"doc_id": "broken.pdf"}) == 0
    reasons = {s["document"]: s["reason"] for s in report.skipped}
    assert reasons["blank.pdf"] == "no text"
    assert "cannot read the PDF" in reasons["broken.pdf"]
    with pytest.raises(ValidationError, match="PDF"):
        parse("broken.pdf", pdf_bytes[: len(pdf_bytes) // 3])

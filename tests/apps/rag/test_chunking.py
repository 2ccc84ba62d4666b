"""Chunking: never over the model's window, structure kept as metadata, parsers keep the text."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skybridge.apps.rag.chunking import check_size, chunk_document
from skybridge.apps.rag.parsing import ParsedDocument, Section, html, markdown, parse
from skybridge.backends.embeddings import DEFAULT_URL, Embedder, connect
from skybridge.core.errors import ConfigError, ValidationError


@pytest.fixture(scope="module")
def model() -> Embedder:
    return connect(DEFAULT_URL)


LONG = " ".join(
    f"Sentence {i} explains how the pagers rotate between engineers on call." for i in range(120)
)


def test_no_chunk_exceeds_the_window_and_nothing_is_dropped(model: Embedder) -> None:
    document = ParsedDocument("Runbook", [Section(("Runbook", "Paging"), LONG)])
    chunks = chunk_document(document, model, size=model.max_tokens, overlap=20)
    assert len(chunks) > 4
    for chunk in chunks:
        assert model.count_tokens(chunk.text) <= model.max_tokens
        assert chunk.tokens == model.count_tokens(chunk.text)
        assert chunk.section == ("Runbook", "Paging")
    for i in range(120):
        assert any(f"Sentence {i} " in c.text for c in chunks), f"sentence {i} was lost"
    model.embed([c.text for c in chunks])  # every chunk is accepted whole


def test_chunks_overlap_and_end_at_sentence_ends(model: Embedder) -> None:
    chunks = chunk_document(ParsedDocument("t", [Section((), LONG)]), model, size=60, overlap=10)
    assert all(c.text.endswith(".") for c in chunks[:-1])
    for first, second in itertools.pairwise(chunks):
        assert first.text[-20:] in second.text or second.text[:20] in first.text


def test_a_chunk_size_over_the_window_is_refused_not_truncated(model: Embedder) -> None:
    with pytest.raises(ConfigError, match="at most 254") as caught:
        check_size(model, 300, 50)
    assert caught.value.setting == "rag.chunk_tokens"


def test_metadata_stays_out_of_the_text(model: Embedder) -> None:
    parsed = markdown("# Title\n\n## Section A\n\nBody of A.\n\n### Deeper\n\nBody deeper.", "x")
    chunks = chunk_document(parsed, model, size=100, overlap=10)
    assert [c.text for c in chunks] == ["Body of A.", "Body deeper."]
    assert chunks[1].section == ("Title", "Section A", "Deeper")
    assert parsed.title == "Title"


def test_markdown_headings_inside_code_fences_are_text() -> None:
    parsed = markdown("# Doc\n\n```\n# not a heading\n```\nafter", "x")
    assert len(parsed.sections) == 1
    assert "# not a heading" in parsed.sections[0].text


def test_html_keeps_headings_drops_scripts() -> None:
    parsed = html(
        "<title>T</title><h1>A</h1><p>one</p><script>evil()</script><h2>B</h2><p>two</p>", "x"
    )
    assert parsed.title == "T"
    assert [(s.path, s.text) for s in parsed.sections] == [(("A",), "one"), (("A", "B"), "two")]


def test_unsupported_and_undecodable_files_are_refused() -> None:
    with pytest.raises(ValidationError, match="unsupported"):
        parse("x.docx", b"PK")
    with pytest.raises(ValidationError, match="UTF-8"):
        parse("x.txt", b"\xff\xfe\x00bad")
    with pytest.raises(ValidationError, match="PDF"):
        parse("x.pdf", b"not a pdf")


WORDS = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
LINES = st.lists(
    st.one_of(
        st.builds(lambda w: f"## {w}", WORDS), st.lists(WORDS, min_size=1, max_size=8).map(" ".join)
    ),
    max_size=15,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=LINES)
def test_markdown_sections_keep_every_body_line_in_order(lines: list[str]) -> None:
    parsed = markdown("\n".join(lines), "x")
    body = [line for line in lines if not line.startswith("## ")]
    joined = "\n".join(s.text for s in parsed.sections).split("\n")
    assert [line for line in joined if line.strip()] == [line for line in body if line.strip()]

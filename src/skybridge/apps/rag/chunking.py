"""Token-aware, structure-aware chunking with the embedding model's own tokenizer.

Sections are split into windows of at most ``size`` model tokens that overlap by ``overlap``
tokens, ending at a sentence end when one falls in the window's second half. A chunk never
exceeds the model's window: a ``size`` larger than the window is refused up front, and every
chunk's text is counted again before it is kept (a chunk that re-tokenises longer is cut
shorter, never truncated by the model). Metadata (title, section path) is not in the text, so
it takes none of the token budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from skybridge.apps.rag.parsing import ParsedDocument, Section
from skybridge.backends.embeddings import Embedder
from skybridge.core.errors import ConfigError

_ENDS = ".!?。"


@dataclass(frozen=True)
class Chunk:
    """One piece of a document, as it will be embedded."""

    n: int
    text: str
    section: tuple[str, ...]
    tokens: int


def check_size(embedder: Embedder, size: int, overlap: int) -> None:
    """Refuse a chunk size the model cannot read whole."""
    if size > embedder.max_tokens:
        raise ConfigError(
            f"chunks of {size} tokens do not fit {embedder.model}, which reads at most "
            f"{embedder.max_tokens}; the model would silently drop the rest",
            setting="rag.chunk_tokens",
            hint=f"set rag.chunk_tokens to {embedder.max_tokens} or less",
        )
    if overlap >= size // 2:
        raise ConfigError(
            "chunk overlap must be below half the chunk size", setting="rag.chunk_overlap"
        )


def chunk_document(
    document: ParsedDocument, embedder: Embedder, *, size: int, overlap: int
) -> list[Chunk]:
    """The chunks of ``document``, numbered from 0, section by section."""
    check_size(embedder, size, overlap)
    chunks: list[Chunk] = []
    for section in document.sections:
        for text, tokens in _windows(section, embedder, size, overlap):
            chunks.append(Chunk(len(chunks), text, section.path, tokens))
    return chunks


def _windows(
    section: Section, embedder: Embedder, size: int, overlap: int
) -> list[tuple[str, int]]:
    text = section.text
    spans = embedder.token_spans(text)
    found: list[tuple[str, int]] = []
    start = 0
    while start < len(spans):
        end = _end(text, spans, start, size)
        piece, tokens = _fitting(text, spans, start, end, embedder)
        found.append((piece, tokens))
        if end >= len(spans):
            break
        start = max(end - overlap, start + 1)
    return found


def _end(text: str, spans: list[tuple[int, int]], start: int, size: int) -> int:
    """Where the window from ``start`` ends: a sentence end in its second half, if any."""
    limit = min(start + size, len(spans))
    if limit == len(spans):
        return limit
    for end in range(limit, start + size // 2, -1):
        last = spans[end - 1][1]
        if text[last - 1] in _ENDS or text[last : last + 1] == "\n":
            return end
    return limit


def _fitting(
    text: str, spans: list[tuple[int, int]], start: int, end: int, embedder: Embedder
) -> tuple[str, int]:
    """The window's text, shortened until the model counts it within its window."""
    while True:
        piece = text[spans[start][0] : spans[end - 1][1]].strip()
        tokens = embedder.count_tokens(piece)
        if tokens <= embedder.max_tokens or end - start <= 1:
            return piece, tokens
        end -= max(1, (tokens - embedder.max_tokens))

"""Documents to sections: Markdown headings, HTML headings, PDF pages, plain-text paragraphs.

A :class:`Section` is a run of text under one heading path (``("Guide", "Install")``); the
chunker splits sections, never across them, and keeps the path as metadata (outside the text
that is embedded). Unsupported files are reported, never half-indexed.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath

from skybridge.core.errors import ValidationError

FORMATS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
}
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")


@dataclass(frozen=True)
class Section:
    path: tuple[str, ...]
    text: str


@dataclass
class ParsedDocument:
    """A document's title and sections, in order."""

    title: str
    sections: list[Section] = field(default_factory=list)


def format_of(key: str) -> str | None:
    """``text``, ``markdown``, ``html`` or ``pdf`` by the key's suffix; ``None``: unsupported."""
    return FORMATS.get(PurePosixPath(key).suffix.lower())


def parse(key: str, data: bytes) -> ParsedDocument:
    """Parse ``data`` by the format ``key``'s suffix names.

    Raises:
        ValidationError: unsupported format, undecodable text or an unreadable PDF.
    """
    kind = format_of(key)
    stem = PurePosixPath(key).stem
    if kind == "pdf":
        return _pdf(data, stem)
    if kind is None:
        raise ValidationError(f"{key}: unsupported format (use .txt, .md, .html or .pdf)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(f"{key}: not UTF-8 text") from None
    if kind == "markdown":
        return markdown(text, stem)
    if kind == "html":
        return html(text, stem)
    return ParsedDocument(stem, [Section((), text)] if text.strip() else [])


def markdown(text: str, default_title: str) -> ParsedDocument:
    """Sections by ATX headings (``#`` ... ``######``), ignoring headings inside code fences."""
    stack: list[tuple[int, str]] = []
    sections: list[Section] = []
    lines: list[str] = []
    fenced = False
    title = ""

    def flush() -> None:
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(tuple(h for _, h in stack), body))
        lines.clear()

    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        heading = None if fenced else _HEADING.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level, name = len(heading.group(1)), heading.group(2).strip()
        title = title or (name if level == 1 else "")
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name))
    flush()
    return ParsedDocument(title or default_title, sections)


class _HtmlSections(HTMLParser):
    SKIP = frozenset({"script", "style", "noscript", "template", "head", "title"})
    BLOCK = frozenset(
        {
            "p",
            "div",
            "li",
            "br",
            "tr",
            "section",
            "article",
            "pre",
            "blockquote",
            "h1",
            "h2",
            "h3",
            "h4",
            "h5",
            "h6",
            "ul",
            "ol",
            "table",
            "dd",
            "dt",
        }
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self.parts: list[str] = []
        self.skipping = 0
        self.heading: list[str] | None = None
        self.level = 0
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in self.SKIP:
            self.skipping += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self.flush()
            self.heading, self.level = [], int(tag[1])
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif re.fullmatch(r"h[1-6]", tag) and self.heading is not None:
            name = " ".join("".join(self.heading).split())
            while self.stack and self.stack[-1][0] >= self.level:
                self.stack.pop()
            if name:
                self.stack.append((self.level, name))
            self.heading = None
        elif tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.skipping:
            return
        (self.heading if self.heading is not None else self.parts).append(data)

    def flush(self) -> None:
        lines = [" ".join(line.split()) for line in "".join(self.parts).splitlines()]
        body = "\n".join(line for line in lines if line)
        if body:
            self.sections.append(Section(tuple(h for _, h in self.stack), body))
        self.parts = []


def html(text: str, default_title: str) -> ParsedDocument:
    """Sections by ``h1``-``h6``; scripts, styles and the head are left out."""
    parser = _HtmlSections()
    parser.feed(text)
    parser.close()
    parser.flush()
    title = " ".join(parser.title.split())
    if not title:
        first = next((s.path[0] for s in parser.sections if s.path), "")
        title = first or default_title
    return ParsedDocument(title, parser.sections)


def _pdf(data: bytes, default_title: str) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except (PdfReadError, ValueError, KeyError, OSError) as exc:
        raise ValidationError(f"cannot read the PDF: {type(exc).__name__}: {exc}") from None
    sections = [Section((f"page {n}",), t.strip()) for n, t in enumerate(pages, 1) if t.strip()]
    return ParsedDocument(str(meta_title).strip() or default_title, sections)

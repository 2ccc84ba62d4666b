"""The dashboard page ``/ui/rag``: ask a question, read the cited answer, see the index.

The form posts ``action=ask`` (scope ``rag:read``) with the question and a mode; the answer is
shown with its citations and the chunks it rests on. Rendering the page loads no model: it reads
the index's status and document list (and the demo's stored answer, under ``--demo``). The
citations, chunks and documents are the app kit's tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skybridge.apps.kit.web import AppPage, Column, Table, page_errors
from skybridge.apps.rag.answers import ask
from skybridge.apps.rag.config import MODES
from skybridge.apps.rag.demo import DEMO_QUESTION, demo_answer_key
from skybridge.apps.rag.service import Context, shared_rag
from skybridge.apps.rag.status import document_rows, status
from skybridge.core.errors import SkybridgeError

PACKAGE = "skybridge.apps.rag"
TEMPLATE = "rag.html"
SHOWN_DOCUMENTS = 50
CHUNK_PREVIEW = 300
CITATION_COLUMNS = (
    Column("n", "#"),
    Column("document", "Document"),
    Column("title", "Title", css="small"),
    Column("chunk", "Chunk", code=True),
    Column("score", "Score", numeric=True),
    Column("source", "Source", css="small"),
)
CHUNK_COLUMNS = (
    Column("n", "#"),
    Column("document", "Document"),
    Column("section", "Section", css="small"),
    Column("score", "Fused", numeric=True),
    Column("dense", "Dense", numeric=True),
    Column("bm25", "BM25", numeric=True),
    Column("text", "Text", css="small"),
)
DOCUMENT_COLUMNS = (
    Column("document", "Document", code=True),
    Column("title", "Title"),
    Column("chunks", "Chunks", numeric=True),
    Column("source", "Source", css="small"),
)


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def citation_table(citations: Sequence[Mapping[str, Any]]) -> Table:
    """The answer's citations: document, chunk, score and source of each ``[n]``."""
    rows = [{**c, "n": f"[{c['n']}]", "score": _number(c["score"], 4)} for c in citations]
    return Table(
        CITATION_COLUMNS, rows, empty="No citations: nothing relevant was found.", name="citations"
    )


def chunk_table(chunks: Sequence[Mapping[str, Any]]) -> Table:
    """The chunks the answer was given, with each retriever's score."""
    rows = [
        {
            **h,
            "n": n,
            "score": _number(h["score"], 4),
            "dense": _number(h["dense"], 3),
            "bm25": _number(h["bm25"], 2),
            "text": h["text"][:CHUNK_PREVIEW] + ("…" if len(h["text"]) > CHUNK_PREVIEW else ""),
        }
        for n, h in enumerate(chunks, 1)
    ]
    return Table(CHUNK_COLUMNS, rows, name="chunks")


def document_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The indexed documents."""
    return Table(
        DOCUMENT_COLUMNS,
        rows,
        empty="Nothing indexed yet: run skybridge rag ingest PATH (or make run for the demo).",
        name="documents",
    )


def _page(ctx: Context, **extra: Any) -> AppPage:
    values: dict[str, Any] = {
        "result": None,
        "error": None,
        "hint": None,
        "question": "",
        "mode": ctx.config.mode,
        "modes": MODES,
        "status": None,
        "documents": document_table([]),
        "demo_question": DEMO_QUESTION,
    }
    values.update(extra)
    with page_errors(values):
        rag = shared_rag(ctx)
        values["status"] = status(rag)
        rows = document_rows(rag)
        values["documents"] = document_table(rows[:SHOWN_DOCUMENTS])
        values["more_documents"] = max(0, len(rows) - SHOWN_DOCUMENTS)
        if values["result"] is None and not values["question"]:
            stored = rag.kv.get_json(demo_answer_key(rag.collection))
            if stored:
                values["result"], values["question"] = stored, stored["question"]
    if values["result"]:
        values["citations"] = citation_table(values["result"]["citations"])
        values["chunks"] = chunk_table(values["result"].get("chunks", []))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context) -> AppPage:
    """GET ``/ui/rag``."""
    return _page(ctx)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/rag`` with ``action=ask``, ``question`` and ``mode``."""
    if form.get("action") != "ask":
        return _page(ctx, error=f"unknown action {form.get('action', '')!r}; use ask")
    question = form.get("question", "").strip()[:4000]
    mode = form.get("mode") or ctx.config.mode
    if mode not in MODES:
        error = f"unknown mode {mode[:40]!r}; choose {', '.join(MODES)}"
        return _page(ctx, error=error, question=question)
    if not question:
        return _page(ctx, error="Type a question first.", mode=mode)
    try:
        result = ask(shared_rag(ctx), question, mode=mode).to_dict()
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint, question=question, mode=mode)
    return _page(ctx, result=result, question=question, mode=mode)

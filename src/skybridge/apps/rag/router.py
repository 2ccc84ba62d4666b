"""``/api/rag``: ingest, query, ask, status and documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses
from skybridge.apps.rag.answers import ask, query
from skybridge.apps.rag.config import Mode
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import Context, shared_rag
from skybridge.apps.rag.status import document_rows, status
from skybridge.core.errors import PermissionDenied, ValidationError


class IngestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        min_length=1,
        max_length=2000,
        description="A folder or URL prefix that rag.http_ingest_sources allows",
    )
    metadata: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Fields added to every chunk"
    )
    reindex: StrictBool = False


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(default=None, ge=1, le=100)
    mode: Mode | None = None
    filter: dict[str, Any] | None = Field(
        default=None,
        description='e.g. {"team": "ops", "year": {"gte": 2024}, "lang": {"in": ["en", "de"]}}',
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000)
    k: int | None = Field(default=None, ge=1, le=100)
    mode: Mode | None = None
    filter: dict[str, Any] | None = None


def check_http_source(ctx: Context, source: str) -> None:
    """Over HTTP, a source must be one ``rag.http_ingest_sources`` allows: a local path inside
    a listed folder, or a URL starting with a listed prefix (no other query string)."""
    allowed = ctx.config.http_ingest_sources
    if not source.isprintable():
        raise ValidationError("the source holds a control character (NUL, newline...)")
    if "://" in source and not source.startswith("file://"):
        if any(source.startswith(p) for p in allowed if "://" in p) and "?" not in source:
            return
    else:
        # No ~ expansion of what a client sends: its home is not the service's.
        path = Path(source.removeprefix("file://")).resolve()
        roots = [Path(p).expanduser().resolve() for p in allowed if "://" not in p]
        if any(path == r or r in path.parents for r in roots):
            return
    raise PermissionDenied(
        f"the service does not ingest {source!r} over HTTP",
        hint="an admin lists the folders and URL prefixes it may read in rag.http_ingest_sources",
    )


def build_router(ctx: Context) -> APIRouter:
    router = APIRouter()
    bad = error_responses(
        e403="Scope or source not allowed",
        e404="Nothing indexed",
        e422="Bad input",
        e400="Embedding model differs from the index",
    )

    @router.post("/ingest", responses=bad, dependencies=[requires("rag:ingest")])
    def post_ingest(body: IngestRequest) -> dict[str, Any]:
        """Index a source: changed documents are re-embedded, deleted ones removed."""
        check_http_source(ctx, body.source)
        rag = shared_rag(ctx)
        return ingest(rag, body.source, metadata=body.metadata, reindex=body.reindex).to_dict()

    @router.post("/query", responses=bad, dependencies=[requires("rag:read")])
    def post_query(body: QueryRequest) -> dict[str, Any]:
        """The best chunks for a query, with dense, BM25 and fused scores."""
        found = query(shared_rag(ctx), body.query, k=body.k, mode=body.mode, filters=body.filter)
        return {"mode": found.mode, "chunks": [h.to_dict() for h in found.hits]}

    @router.post("/ask", responses=bad, dependencies=[requires("rag:read")])
    def post_ask(body: AskRequest) -> dict[str, Any]:
        """A cited answer: text, citations (document, chunk, score, source) and the chunks."""
        return ask(
            shared_rag(ctx), body.question, k=body.k, mode=body.mode, filters=body.filter
        ).to_dict()

    @router.get("/status", dependencies=[requires("rag:read")])
    def get_status() -> dict[str, Any]:
        """Collection, embedding model, documents, baseline and rolling score."""
        return status(shared_rag(ctx))

    @router.get("/documents", dependencies=[requires("rag:read")])
    def get_documents() -> list[dict[str, Any]]:
        """The indexed documents."""
        return document_rows(shared_rag(ctx))

    return router

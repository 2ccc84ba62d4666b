"""``/api/rag``: ingest, query, ask, status and documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from skybridge.apps.kit.access import requires
from skybridge.apps.kit.errors import error_responses
from skybridge.apps.rag.answers import ask, query
from skybridge.apps.rag.config import ChunkCount, Mode
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import Context, shared_rag
from skybridge.apps.rag.sources import local_path, within
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
    k: ChunkCount | None = None
    mode: Mode | None = None
    filter: dict[str, Any] | None = Field(
        default=None,
        description='e.g. {"team": "ops", "year": {"gte": 2024}, "lang": {"in": ["en", "de"]}}',
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: str = Field(min_length=1, max_length=4000)
    k: ChunkCount | None = None
    mode: Mode | None = None
    filter: dict[str, Any] | None = None


def http_roots(ctx: Context) -> list[Path]:
    """The local folders of ``rag.http_ingest_sources`` (paths or ``file://``), resolved."""
    found = (local_path(p) for p in ctx.config.http_ingest_sources)
    return [Path(p).expanduser().resolve() for p in found if p is not None]


def _under(source: str, prefix: str) -> bool:
    """Whether URL ``source`` is ``prefix`` or below it: ``s3://docs`` allows ``s3://docs/a``
    but not the bucket ``s3://docs-private``."""
    if source == prefix or prefix.endswith("/"):
        return source.startswith(prefix)
    return source.startswith(prefix + "/")


def check_http_source(ctx: Context, source: str) -> str:
    """Over HTTP, a source must be one ``rag.http_ingest_sources`` allows: a local path inside
    a listed folder, or a URL at or below a listed prefix (no other query string). The
    service's own data folder is never a source, even inside a listed folder.

    Returns:
        The source to read: a local one as its resolved path (what was checked is what is
        read), a URL as given.
    """
    allowed = ctx.config.http_ingest_sources
    if not source.isprintable():
        raise ValidationError("the source holds a control character (NUL, newline...)")
    location = local_path(source)
    if location is None:
        prefixes = [p for p in allowed if local_path(p) is None]
        if any(_under(source, p) for p in prefixes) and "?" not in source:
            return source
    else:
        # No ~ expansion of what a client sends: its home is not the service's.
        path = Path(location).resolve()
        if within(path, ctx.data_dir.resolve()):
            raise PermissionDenied(
                "the service does not ingest its own data folder over HTTP",
                hint="data_dir holds the service's tokens, session secret and backends",
            )
        if any(within(path, root) for root in http_roots(ctx)):
            return str(path)
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
        """Index a source: changed documents are re-embedded, deleted ones removed. Files of
        a folder that resolve (links followed) outside the allowed sources or into the
        service's data folder are not read; they are listed in ``skipped``."""
        source = check_http_source(ctx, body.source)
        return ingest(
            shared_rag(ctx),
            source,
            metadata=body.metadata,
            reindex=body.reindex,
            allowed_roots=http_roots(ctx),
        ).to_dict()

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

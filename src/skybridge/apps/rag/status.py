"""What the rag index holds: collection, model, documents, baseline and rolling score."""

from __future__ import annotations

from typing import Any

from skybridge.apps.rag.monitoring import baseline_key, rolling_key
from skybridge.apps.rag.service import FINGERPRINT, Rag
from skybridge.core.urls import mask_url


def status(rag: Rag) -> dict[str, Any]:
    """The index at a glance (loads no model)."""
    info = rag.describe()
    documents = rag.documents.entries()
    rolling = rag.kv.get_json(rolling_key(rag.collection)) or []
    baseline = rag.kv.get_json(baseline_key(rag.collection))
    return {
        "collection": rag.collection,
        "vectors": mask_url(rag.ctx.backend_url("vectors")),
        "knowledge_base": mask_url(url) if (url := rag.knowledge_base_url) else None,
        "indexed": info is not None,
        "chunks": info.count if info else 0,
        "dimension": info.dimension if info else None,
        "embedding_model": info.properties.get(FINGERPRINT) if info else None,
        "documents": len(documents),
        "sources": sorted({d.source for d in documents}),
        "mode": rag.config.mode,
        "rolling_similarity": round(sum(rolling) / len(rolling), 4) if rolling else None,
        "rolling_queries": len(rolling),
        "baseline": baseline,
    }


def document_rows(rag: Rag) -> list[dict[str, Any]]:
    """Every indexed document: id, title, chunks, source, when."""
    return [
        {
            "document": d.id,
            "title": d.title,
            "chunks": d.chunks,
            "source": d.source,
            "indexed_at": d.indexed_at,
        }
        for d in rag.documents.entries()
    ]

"""Vector stores: ``connect("embedded://.skybridge/vectors")``, ``pgvector://``,
``opensearch+https://``.

See :mod:`skybridge.backends.vectors.base` for the contract every store keeps and
:mod:`skybridge.backends.vectors.filters` for metadata filters.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.vectors.base import (
    Changes,
    CollectionInfo,
    Match,
    Metric,
    VectorRecord,
    VectorStore,
)
from skybridge.backends.vectors.filters import Eq, Filter, In, Range
from skybridge.core.registry import Registry

registry: Registry[VectorStore] = Registry("vectors", VectorStore)  # type: ignore[type-abstract]
registry.register(
    "embedded", "skybridge.backends.vectors.embedded:EmbeddedVectorStore", extra="vectors"
)
for _scheme in ("opensearch+https", "opensearch+http"):
    registry.register(
        _scheme, "skybridge.backends.vectors.opensearch:OpenSearchVectorStore", extra="opensearch"
    )
for _scheme in ("pgvector", "postgresql", "postgres"):
    registry.register(
        _scheme, "skybridge.backends.vectors.pgvector:PgVectorStore", extra="postgres"
    )


def connect(url: str, *, setting: str | None = "backends.vectors", **options: Any) -> VectorStore:
    """Build the vector store ``url`` names.

    Args:
        url: ``embedded://.skybridge/vectors`` (a folder; ``?ann_threshold=20000``),
            ``pgvector://user:pw@host:5432/db?ef_search=100`` (also ``postgresql://``),
            ``opensearch+https://host:443?aws_region=us-east-1`` (OpenSearch k-NN).
        setting: the config key named in errors.
        **options: backend options; they win over URL parameters.
    """
    return registry.connect(url, setting=setting, **options)


__all__ = [
    "Changes",
    "CollectionInfo",
    "Eq",
    "Filter",
    "In",
    "Match",
    "Metric",
    "Range",
    "VectorRecord",
    "VectorStore",
    "connect",
    "registry",
]

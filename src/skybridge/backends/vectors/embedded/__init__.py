"""The embedded vector store: a SQLite file, exact search in memory, HNSW (usearch) when large."""

from skybridge.backends.vectors.embedded.store import EmbeddedVectorStore

__all__ = ["EmbeddedVectorStore"]

"""The rag engine: one collection's backends (kv, vectors, embeddings, llm, notify) together.

With ``backends.retrieval`` set (``bedrock-kb://KBID?region=...``), questions are answered from
that knowledge base instead of the local index: the service searches and ranks, rag cites its
passages and answers with the configured answer model. Its documents arrive through the
knowledge base's own data source, so rag's ingestion is refused while it is set.

``open_rag(ctx)`` connects them for one command and closes them after; ``shared_rag(ctx)``
keeps one per process for the HTTP service and cloud handlers, so an embedded vector store's
vectors and the BM25 index stay in memory between requests. The embedding model and the
answer model are connected on first use (the CLI's ``status`` loads no model).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.engines import EngineCache
from skybridge.apps.rag.config import RagConfig
from skybridge.apps.rag.documents import DocumentRegistry
from skybridge.apps.rag.retrieval import Retriever
from skybridge.backends.embeddings import Embedder
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.llm import LanguageModel
from skybridge.backends.notify import Notifier
from skybridge.backends.retrieval import KnowledgeBase
from skybridge.backends.vectors import CollectionInfo, VectorStore
from skybridge.core.errors import ConfigError, Conflict
from skybridge.core.observability import get_logger

log = get_logger(__name__)
Context = AppContext[RagConfig]
FINGERPRINT = "embedding_fingerprint"
RETRIEVAL = "retrieval"


class Rag:
    """What every rag operation works on."""

    def __init__(self, ctx: Context, kv: KeyValueStore, vectors: VectorStore) -> None:
        self.ctx = ctx
        self.kv = kv
        self.vectors = vectors
        self._embedder: Embedder | None = None
        self._llm: LanguageModel | None = None
        self._notifier: Notifier | None = None
        self._knowledge_base: KnowledgeBase | None = None
        self._lock = threading.Lock()

    @property
    def config(self) -> RagConfig:
        return self.ctx.config

    @property
    def collection(self) -> str:
        return self.config.collection

    @property
    def documents(self) -> DocumentRegistry:
        return DocumentRegistry(self.kv, self.collection)

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = cast(Embedder, self.ctx.connect("embeddings"))
            return self._embedder

    @property
    def llm(self) -> LanguageModel:
        with self._lock:
            if self._llm is None:
                self._llm = cast(LanguageModel, self.ctx.connect("llm"))
            return self._llm

    def notifier(self) -> Notifier:
        """The notify backend (one per engine, so its de-duplication holds across calls)."""
        with self._lock:
            if self._notifier is None:
                self._notifier = self.ctx.connect("notify")
            return self._notifier

    @property
    def knowledge_base_url(self) -> str | None:
        """``backends.retrieval``, when questions go to a managed knowledge base."""
        return self.ctx.settings.backends.named().get(RETRIEVAL)

    def knowledge_base(self) -> KnowledgeBase | None:
        """The knowledge base questions are answered from, or ``None`` (the local index)."""
        if self.knowledge_base_url is None:
            return None
        with self._lock:
            if self._knowledge_base is None:
                self._knowledge_base = cast(KnowledgeBase, self.ctx.connect(RETRIEVAL))
            return self._knowledge_base

    def refuse_ingest(self) -> None:
        """Refuse to index documents while questions go to a knowledge base."""
        if self.knowledge_base_url is not None:
            raise ConfigError(
                "backends.retrieval names a knowledge base: questions are answered from it, "
                "and its documents arrive through its own data source, not through rag ingest",
                setting="backends.retrieval",
                hint="sync the knowledge base's data source (an ingestion job), or unset "
                "backends.retrieval to index documents here",
            )

    def retriever(self) -> Retriever:
        c = self.config
        return Retriever(
            self.vectors, self.collection, self.documents, c.rrf_k, c.dense_weight, c.bm25_weight
        )

    def describe(self) -> CollectionInfo | None:
        return self.vectors.describe(self.collection)

    def index_for_writing(self) -> CollectionInfo:
        """The collection, created for the configured model, or refused for another model.

        The registry is made to describe it (:meth:`DocumentRegistry.follow`): entries left
        from a collection since dropped are removed, so their documents are indexed again.
        """
        embedder = self.embedder
        had_entries = self.documents.has_entries()
        try:
            info = self.vectors.ensure_collection(
                self.collection, embedder.dimension, properties={FINGERPRINT: embedder.fingerprint}
            )
        except Conflict as exc:
            raise self._model_changed(self.vectors.collection(self.collection)) from exc
        if self.documents.follow(self.vectors, info, had_entries=had_entries):
            log.warning("rag.registry_reset", collection=info.name, generation=info.generation)
        return info

    def check_model(self) -> CollectionInfo | None:
        """The collection, if it exists and was made by the configured model.

        Raises:
            ConfigError: it was indexed with another model (even of the same dimension).
        """
        info = self.describe()
        if info is not None and info.properties.get(FINGERPRINT) != self.embedder.fingerprint:
            raise self._model_changed(info)
        return info

    def _model_changed(self, info: CollectionInfo) -> ConfigError:
        stored = info.properties.get(FINGERPRINT, "(none recorded)")
        return ConfigError(
            f"collection {info.name!r} was indexed with {stored}, but the configured embedding "
            f"model is {self.embedder.fingerprint}; vectors of two models cannot be compared, "
            "even at the same dimension",
            setting="backends.embeddings",
            hint="configure the model the index was built with, or rebuild it: "
            "skybridge rag ingest SOURCE --reindex",
        )

    def with_collection(self, collection: str) -> Rag:
        """An engine on another collection of the same backends (evaluation corpora)."""
        config = self.config.model_copy(update={"collection": collection})
        other = Rag(
            AppContext(self.ctx.app, self.ctx.settings, config, self.ctx.demo),
            self.kv,
            self.vectors,
        )
        other._embedder, other._llm, other._notifier = self._embedder, self._llm, self._notifier
        return other

    def close(self) -> None:
        self.vectors.flush()
        if self._knowledge_base is not None:
            self._knowledge_base.close()


def connect_rag(ctx: Context) -> Rag:
    """An engine with its kv and vector backends connected now (neither is left open when the
    other fails)."""
    kv = ctx.connect("kv")
    try:
        vectors = cast(VectorStore, ctx.connect("vectors"))
    except BaseException:
        kv.close()
        raise
    return Rag(ctx, kv, vectors)


@contextmanager
def open_rag(ctx: Context) -> Iterator[Rag]:
    """The engine for one command; backends are closed on exit."""
    rag = connect_rag(ctx)
    with rag.kv, rag.vectors:
        try:
            yield rag
        finally:
            rag.close()


_ENGINES: EngineCache[Rag] = EngineCache(connect_rag)


def shared_rag(ctx: Context) -> Rag:
    """One engine per process and configuration (the service and handlers reuse it)."""
    return _ENGINES.get(ctx)

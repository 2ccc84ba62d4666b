"""The recommender: one configuration's backends (kv, vectors, streams, llm) together.

``open_recommender(ctx)`` connects them for one command and closes them after;
``shared_recommender(ctx)`` keeps one per process for the HTTP service and cloud handlers, so
the current model's factors stay in memory between requests. The stream and the answer model
are connected on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.engines import EngineCache
from skybridge.apps.recommend.catalogue import Catalogue
from skybridge.apps.recommend.config import RecommendConfig
from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.impressions import ImpressionLog
from skybridge.apps.recommend.model import ItemFactors
from skybridge.apps.recommend.profiles import PIPELINE, Profiles
from skybridge.apps.recommend.versions import ModelVersion, VersionStore
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.llm import LanguageModel
from skybridge.backends.streams import Message, StreamBackend
from skybridge.backends.vectors import VectorStore
from skybridge.core.errors import NotFound
from skybridge.runtime.state import GuardedStore

Context = AppContext[RecommendConfig]


class Recommender:
    """What every recommend operation works on."""

    def __init__(
        self, ctx: Context, kv: KeyValueStore, vectors: VectorStore, streams: StreamBackend
    ) -> None:
        self.ctx = ctx
        self.kv = kv
        self.vectors = vectors
        self._streams = streams
        self._topic_ready = False
        self.catalogue = Catalogue(kv, ctx.config.collection)
        self.versions = VersionStore(
            kv, vectors, ctx.config.collection, keep=ctx.config.keep_versions
        )
        self.profiles = Profiles(GuardedStore(kv, f"state/{PIPELINE}/", cache_size=0))
        self.metrics = GuardedStore(kv, f"recommend/{ctx.config.collection}/", cache_size=0)
        self.impressions = ImpressionLog(self.publish)
        self._llm: LanguageModel | None = None
        self._lock = threading.Lock()

    @property
    def config(self) -> RecommendConfig:
        return self.ctx.config

    def model(self) -> tuple[ModelVersion, ItemFactors] | None:
        """The current version and its factors, or ``None`` before the first training."""
        version = self.versions.current()
        if version is None:
            return None
        return version, self.versions.factors(version)

    def require_model(self) -> tuple[ModelVersion, ItemFactors]:
        found = self.model()
        if found is None:
            raise NotFound(
                "no model has been trained yet",
                hint="send some events, then run `skybridge recommend train`",
            )
        return found

    @property
    def streams(self) -> StreamBackend:
        """The stream backend, with the events topic created on first use."""
        with self._lock:
            if not self._topic_ready:
                self._streams.create_topic(self.config.topic, 1)
                self._topic_ready = True
        return self._streams

    @property
    def llm(self) -> LanguageModel:
        with self._lock:
            if self._llm is None:
                self._llm = cast(LanguageModel, self.ctx.connect("llm"))
            return self._llm

    def publish(self, events: list[UserEvent]) -> int:
        """Append events to the topic (keyed by user: one user's events stay in order)."""
        messages = [Message(e.encode(), e.user.encode()) for e in events]
        return len(self.streams.produce(self.config.topic, messages))

    def close(self) -> None:
        self.impressions.close()
        for backend in (self._streams, self._llm, self.vectors, self.kv):
            if backend is not None:
                backend.close()


def connect_recommender(ctx: Context) -> Recommender:
    """A recommender with its backends connected now (embedded URLs resolve against the
    current directory at this moment, not when a background thread first writes)."""
    opened: list[Any] = []
    try:
        for family in ("kv", "vectors", "streams"):
            opened.append(ctx.connect(family))
    except BaseException:
        for backend in opened:
            backend.close()
        raise
    kv, vectors, streams = opened
    return Recommender(ctx, kv, vectors, streams)


@contextmanager
def open_recommender(ctx: Context) -> Iterator[Recommender]:
    """A recommender for one command; its backends are closed after."""
    engine = connect_recommender(ctx)
    try:
        yield engine
    finally:
        engine.close()


_ENGINES: EngineCache[Recommender] = EngineCache(connect_recommender)


def shared_recommender(ctx: Context) -> Recommender:
    """One recommender per process and configuration (the service and handlers reuse it)."""
    return _ENGINES.get(ctx)

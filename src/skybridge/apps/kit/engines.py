"""One engine per process and configuration, shared by an app's routes, page and handlers.

An app whose requests should reuse connected backends and in-memory state (a model's factors, a
BM25 index) builds its engine once per configuration::

    _ENGINES = EngineCache(connect_recommender)

    def shared_recommender(ctx: Context) -> Recommender:
        return _ENGINES.get(ctx)

The key is everything that decides what the engine connects to: every configured backend URL,
the data directory the app's default URLs resolve in, the working directory (embedded URLs may
be relative to it) and the app's whole section. Two contexts that differ in any of them get
two engines; engines are never closed by the cache (they live as long as the process).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from skybridge.apps.kit.context import AppContext

EngineT = TypeVar("EngineT")


def engine_key(ctx: AppContext[Any]) -> tuple[str, ...]:
    """What decides which backends and settings an engine built from ``ctx`` uses."""
    urls = sorted(ctx.settings.backends.named().items())
    return (
        ctx.name,
        os.getcwd(),
        str(ctx.data_dir),  # relative to the working directory when relative
        repr(urls),
        ctx.config.model_dump_json(),
    )


class EngineCache(Generic[EngineT]):
    """Engines built by ``build``, one per :func:`engine_key` (thread-safe)."""

    def __init__(self, build: Callable[[Any], EngineT]) -> None:
        self._build = build
        self._engines: dict[tuple[str, ...], EngineT] = {}
        self._lock = threading.Lock()

    def get(self, ctx: AppContext[Any]) -> EngineT:
        """The engine for ``ctx``'s configuration, built on first use."""
        key = engine_key(ctx)
        with self._lock:
            found = self._engines.get(key)
            if found is None:
                found = self._engines[key] = self._build(ctx)
            return found

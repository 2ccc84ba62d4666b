"""The online store: each entity's document per view in a kv store (sqlite, redis, dynamodb),
read in batches and evaluated at the read time with TTLs enforced.

Documents live at ``features/<view>/<entity>`` in the stream runtime's guarded envelope: the
pipeline writes them through a :class:`~skybridge.runtime.sinks.KVSink` (exactly once per
event), and reads go through the same envelope. A read of any number of entities is one
``get_items`` round trip; documents are decoded with orjson and evaluated by a read plan
made once per view.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from skybridge.apps.features.definitions import FeatureView
from skybridge.apps.features.entity import entity_key
from skybridge.apps.features.vector import FeatureVector, Reader
from skybridge.backends.kv import KeyValueStore
from skybridge.core import jsoncodec
from skybridge.core.errors import NotFound, ValidationError
from skybridge.runtime.sinks import KVSink

PREFIX = "features/"
#: Most entities one read may name.
MAX_ENTITIES = 1000


def _document(raw: bytes) -> Any:
    """The value of a document in the runtime's guarded envelope (``{"v", "g", "d"}``, see
    :mod:`skybridge.runtime.state`); ``None`` when deleted. Read with orjson: reads need
    neither the guard nor exact offsets, which only the pipeline's writes use."""
    doc = jsoncodec.loads(raw)
    return None if doc.get("d") else doc.get("v")


def view_prefix(view: FeatureView | str) -> str:
    name = view if isinstance(view, str) else view.name
    return f"{PREFIX}{name}/"


class OnlineStore:
    """Reads (and, for pipelines, sinks) of the views' entity documents in ``kv``."""

    def __init__(self, kv: KeyValueStore, views: Sequence[FeatureView]) -> None:
        self.kv = kv
        self.views = {view.name: view for view in views}
        self._readers = {name: Reader(view) for name, view in self.views.items()}

    def view(self, name: str | None) -> FeatureView:
        """The view called ``name`` (``None``: the first one)."""
        if name is None and self.views:
            return next(iter(self.views.values()))
        if name in self.views:
            return self.views[name]
        known = ", ".join(sorted(self.views)) or "none defined"
        raise NotFound(f"no feature view {name!r}", hint=f"views: {known}")

    def sink(self, view: FeatureView) -> KVSink:
        """The kv sink a pipeline writes this view's documents through."""
        return KVSink(self.kv, view_prefix(view))

    def read(
        self, view: str | None, entities: Sequence[str], *, at: float | None = None
    ) -> list[FeatureVector]:
        """The features of ``entities`` (in that order) at ``at`` (default now).

        Raises:
            ValidationError: no entity, too many, or a malformed key.
            NotFound: no such view.
        """
        chosen = self.view(view)
        if not entities:
            raise ValidationError("name at least one entity")
        if len(entities) > MAX_ENTITIES:
            raise ValidationError(f"at most {MAX_ENTITIES} entities per read, got {len(entities)}")
        keys = [entity_key(e, "entity") for e in entities]
        prefix = view_prefix(chosen)
        items = self.kv.get_items(prefix + key for key in keys)
        now = time.time() if at is None else at
        reader = self._readers[chosen.name]
        found = []
        for key in keys:
            item = items.get(prefix + key)
            found.append(reader.evaluate(key, _document(item.value) if item else None, now))
        return found

    def read_one(self, view: str | None, entity: str, *, at: float | None = None) -> FeatureVector:
        return self.read(view, [entity], at=at)[0]

    def entities(self, view: str | None, *, limit: int = 100) -> list[str]:
        """Entity keys of a view, in key order (at most ``limit``)."""
        prefix = view_prefix(self.view(view))
        return [key[len(prefix) :] for key in self.kv.keys(prefix, limit=limit)]

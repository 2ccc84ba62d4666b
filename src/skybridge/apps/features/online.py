"""The online store: each entity's document per view in a kv store (sqlite, redis, dynamodb),
read in batches and evaluated at the read time with TTLs enforced.

Documents live at ``features/<view>/<entity>`` in the stream runtime's guarded envelope: the
pipeline writes them through a :class:`~skybridge.runtime.sinks.KVSink` (exactly once per
event), and reads go through the same envelope. A read of any number of entities is one
``get_items`` round trip.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from skybridge.apps.features.definitions import FeatureView
from skybridge.apps.features.entity import entity_key
from skybridge.apps.features.vector import FeatureVector, evaluate
from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import NotFound, ValidationError
from skybridge.runtime.sinks import KVSink
from skybridge.runtime.state import GuardedStore

PREFIX = "features/"
#: Most entities one read may name.
MAX_ENTITIES = 1000


def view_prefix(view: FeatureView | str) -> str:
    name = view if isinstance(view, str) else view.name
    return f"{PREFIX}{name}/"


class OnlineStore:
    """Reads (and, for pipelines, sinks) of the views' entity documents in ``kv``."""

    def __init__(self, kv: KeyValueStore, views: Sequence[FeatureView]) -> None:
        self.kv = kv
        self.views = {view.name: view for view in views}
        self._stores = {name: GuardedStore(kv, view_prefix(name)) for name in self.views}

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
        docs = self._stores[chosen.name].load(keys)
        now = time.time() if at is None else at
        found = []
        for key in keys:
            doc = docs[key]
            value = None if doc.deleted else doc.value
            found.append(evaluate(chosen, key, value, now))
        return found

    def read_one(self, view: str | None, entity: str, *, at: float | None = None) -> FeatureVector:
        return self.read(view, [entity], at=at)[0]

    def entities(self, view: str | None, *, limit: int = 100) -> list[str]:
        """Entity keys of a view, in key order (at most ``limit``)."""
        prefix = view_prefix(self.view(view))
        return [key[len(prefix) :] for key in self.kv.keys(prefix, limit=limit)]

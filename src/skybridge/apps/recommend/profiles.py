"""A user's profile: summed event weights by item, hidden items, recent events and the user's
vector in the current model's space. It is the event pipeline's state for that user (kv,
exactly once per event) and what the serving path reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skybridge.apps.recommend.config import RecommendConfig
from skybridge.apps.recommend.events import UserEvent
from skybridge.apps.recommend.model import ItemFactors, Matrix
from skybridge.runtime.state import Guarded, GuardedStore

PIPELINE = "recommend-events"


def empty_profile(user: str) -> dict[str, Any]:
    return {
        "user": user,
        "segment": "",
        "items": {},
        "hidden": {},
        "recent": [],
        "vector": None,
        "version": "",
        "events": 0,
        "updated": 0.0,
    }


def apply_event(
    profile: dict[str, Any] | None,
    event: UserEvent,
    model: tuple[str, ItemFactors] | None,
    config: RecommendConfig,
) -> dict[str, Any]:
    """The profile after ``event``, with the vector folded in against ``model`` (version id and
    factors; ``None`` before the first training)."""
    if event.kind == "rec_served":
        return profile if profile is not None else empty_profile(event.user)
    doc = _copy(profile) if profile is not None else empty_profile(event.user)
    doc["segment"] = event.segment or doc["segment"]
    doc["events"] += 1
    doc["updated"] = max(doc["updated"], event.ts)
    doc["recent"] = [*doc["recent"], [event.ts, event.kind, event.item]][-config.recent_events :]
    if event.kind == "rec_ignore":
        doc["hidden"][event.item] = event.ts
        _cap(doc["hidden"], config.profile_items, key=lambda v: v)
        return doc
    weight, _ = doc["items"].get(event.item, (0.0, 0.0))
    doc["items"][event.item] = [weight + config.weights.get(event.kind, 0.0), event.ts]
    doc["hidden"].pop(event.item, None)
    _cap(doc["items"], config.profile_items, key=lambda v: v[1])
    if model is None:
        doc["vector"], doc["version"] = None, ""
        return doc
    version, factors = model
    if config.fold_in == "decay" and doc["version"] == version and doc["vector"] is not None:
        old = np.asarray(doc["vector"], dtype=np.float32)
        vector = factors.decayed(old, event.item, config.weights[event.kind], config.decay)
    else:
        vector = user_vector(doc, factors, config)
    doc["vector"] = None if vector is None else [round(float(x), 6) for x in vector]
    doc["version"] = version
    return doc


def _copy(profile: dict[str, Any]) -> dict[str, Any]:
    """A copy safe to change: the runtime shares state documents with its cache. Item entries
    are replaced, never changed in place, so the containers are copied and not their values."""
    return {
        **profile,
        "items": dict(profile["items"]),
        "hidden": dict(profile["hidden"]),
        "recent": list(profile["recent"]),
    }


def user_vector(
    doc: dict[str, Any], factors: ItemFactors, config: RecommendConfig
) -> Matrix | None:
    """The profile's vector computed from its items against ``factors`` (no stored state)."""
    if config.fold_in == "als":
        return factors.fold_in({i: w for i, (w, _) in doc["items"].items()})
    vector: Matrix | None = None
    for item, (weight, _) in sorted(doc["items"].items(), key=lambda kv: kv[1][1]):
        vector = factors.decayed(vector, item, weight, config.decay)
    return vector


def in_model_space(
    doc: dict[str, Any], version: str, factors: ItemFactors, config: RecommendConfig
) -> Matrix | None:
    """The stored vector if it belongs to ``version``, else one folded in now."""
    if doc["version"] == version and doc["vector"] is not None:
        return np.asarray(doc["vector"], dtype=np.float32)
    return user_vector(doc, factors, config)


def _cap(mapping: dict[str, Any], limit: int, *, key: Any) -> None:
    if len(mapping) <= limit:
        return
    for item, _ in sorted(mapping.items(), key=lambda kv: key(kv[1]))[: len(mapping) - limit]:
        del mapping[item]


@dataclass
class Profiles:
    """Read access to the pipeline's profiles."""

    store: GuardedStore

    def get(self, user: str) -> dict[str, Any] | None:
        found = self.store.get(user)
        return found if isinstance(found, dict) else None

    def scan(self) -> list[dict[str, Any]]:
        """Every profile (for retraining)."""
        found = []
        for entry in self.store.kv.scan_prefix(self.store.prefix):
            doc = Guarded.decode(entry.value, entry.version)
            if isinstance(doc.value, dict) and not doc.deleted:
                found.append(doc.value)
        return found

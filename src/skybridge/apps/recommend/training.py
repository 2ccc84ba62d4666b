"""Retraining over a window: the profiles' events of the last ``window_days`` -> ALS item
factors -> a new model version, swapped in atomically (see :mod:`.versions`).

Items the catalogue does not list are left out when a catalogue is loaded. Popularity per user
segment (and overall, ``*``) is computed from the same window for cold starts. Users keep their
profiles: their vectors are folded in against the new factors on their next event or request.
Catalogue changes loaded while a retraining runs reach its version: after the swap, the
catalogue is read again for the version's items and what changed is copied into its index.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.model import AlsParams, train_als
from skybridge.apps.recommend.ranking import ALL_SEGMENTS
from skybridge.apps.recommend.service import Recommender
from skybridge.apps.recommend.users import is_counted, record_uncounted
from skybridge.apps.recommend.versions import ModelVersion
from skybridge.core.errors import ValidationError

POPULAR_KEPT = 200
MAX_WINDOW_DAYS = 36_500
Progress = Callable[[str], None]


@dataclass(frozen=True)
class TrainReport:
    """What a retraining did: ``version`` is the version served after it; ``trained`` is false,
    with the ``reason``, when it served nothing new (too few events in the window, or another
    retraining's later version was swapped in first)."""

    trained: bool
    version: str
    previous: str
    users: int
    items: int
    interactions: int
    window_days: float
    seconds: float
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def params_of(engine: Recommender, items: int | None = None) -> AlsParams:
    """The configured ALS hyperparameters; with ``items``, factors are capped at a quarter of
    the item count (more factors than that lets ALS memorise each user instead of learning
    what items share, e.g. 64 factors over a 60-item catalogue)."""
    c = engine.config
    factors = c.factors if items is None else max(2, min(c.factors, items // 4))
    return AlsParams(factors, c.regularization, c.alpha, c.iterations)


def window_weights(
    engine: Recommender, since: float
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Per user, summed weights of items last seen at or after ``since``; and user segments.

    Reading every profile, it also refreshes the count of profiles not in the user counter
    (see :mod:`.users`)."""
    known = {item.id for item in engine.catalogue}
    weights: dict[str, dict[str, float]] = {}
    segments: dict[str, str] = {}
    uncounted = 0
    for doc in engine.profiles.scan():
        uncounted += not is_counted(doc, engine.config.collection)
        kept = {
            item: float(w)
            for item, (w, ts) in doc["items"].items()
            if ts >= since and w > 0 and (not known or item in known)
        }
        if kept:
            weights[doc["user"]] = kept
            segments[doc["user"]] = doc.get("segment") or ""
    record_uncounted(engine, uncounted)
    return weights, segments


def popularity(
    weights: dict[str, dict[str, float]], segments: dict[str, str]
) -> dict[str, list[str]]:
    """The most popular items (by users who interacted) per segment and overall."""
    counts: dict[str, Counter[str]] = {ALL_SEGMENTS: Counter()}
    for user, items in weights.items():
        for name in {ALL_SEGMENTS, segments.get(user) or ALL_SEGMENTS}:
            counts.setdefault(name, Counter()).update(items.keys())
    return {
        name: [i for i, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:POPULAR_KEPT]]
        for name, c in counts.items()
    }


def retrain(
    engine: Recommender,
    *,
    window_days: float | None = None,
    now: float | None = None,
    progress: Progress | None = None,
) -> TrainReport:
    """Train on the window and swap the new version in (or say why not)."""
    start = time.perf_counter()
    days = engine.config.window_days if window_days is None else window_days
    if not 0 < days <= MAX_WINDOW_DAYS:
        raise ValidationError(
            f"the window must be more than 0 and at most {MAX_WINDOW_DAYS} days, got {days:g}"
        )
    current = engine.versions.current()
    previous = current.version if current else ""
    step = progress or (lambda _: None)
    step("reading events")
    weights, segments = window_weights(engine, (now or time.time()) - days * 86_400)
    pairs = sum(len(w) for w in weights.values())
    if pairs < engine.config.min_interactions:
        return TrainReport(
            False,
            previous,
            previous,
            len(weights),
            0,
            pairs,
            days,
            time.perf_counter() - start,
            f"{pairs} interactions in the last {days:g} days; "
            f"recommend.min_interactions is {engine.config.min_interactions}",
        )
    step("training ALS")
    item_count = len({i for w in weights.values() for i in w})
    factors, pairs = train_als(weights, params_of(engine, item_count))
    step("publishing the new version")
    name = engine.versions.claim_version()
    version = ModelVersion(
        name,
        f"{engine.config.collection}_{name}",
        time.time(),
        days,
        len(weights),
        len(factors.ids),
        pairs,
        factors.params,
        popularity(weights, segments),
    )
    items = engine.catalogue.get_many(factors.ids)
    served, reason = name, ""
    if engine.versions.publish(version, factors, items):
        _copy_catalogue_changes(engine, factors.ids, items)
    else:
        newer = engine.versions.current()
        served = newer.version if newer else ""
        reason = f"another retraining published {served} while this one ran; {name} was discarded"
    return TrainReport(
        not reason,
        served,
        previous,
        len(weights),
        len(factors.ids),
        pairs,
        days,
        time.perf_counter() - start,
        reason,
    )


def _copy_catalogue_changes(engine: Recommender, ids: list[str], written: dict[str, Item]) -> None:
    """Copy into the served index what the catalogue holds for ``ids`` now, where it differs
    from ``written`` (read before the swap): a ``load`` that ran before the swap updated the
    version served then, and one that runs after it updates this one."""
    fresh = engine.catalogue.get_many(ids)
    engine.versions.update_items({i: item for i, item in fresh.items() if written.get(i) != item})

"""Serving: a user's top-K from the vector index, without seen items, within business filters,
diversified by maximal marginal relevance, with popular-in-segment items for cold starts.

1. The user's vector (the profile's, or folded in now when the model changed since).
2. The vector backend returns the best ``candidates`` + |seen| items by dot product among those
   matching the filters (``available = true``, ``category in [...]``), so filtering happens in
   the index and a filter never leaves fewer than k results when k items match it.
3. Seen and hidden (``rec_ignore``) items are removed; MMR picks k from the rest, trading
   relevance for distance to what is already picked (``mmr_lambda``).
4. Users with no vector (new, or only items the model does not know) get the most popular items
   of their segment at training time, then the most popular overall, through the same filters.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from skybridge.apps.recommend.events import UserEvent, check_id
from skybridge.apps.recommend.model import ItemFactors, Matrix
from skybridge.apps.recommend.profiles import in_model_space
from skybridge.apps.recommend.service import Recommender
from skybridge.apps.recommend.versions import ModelVersion
from skybridge.backends.vectors import Filter
from skybridge.core.errors import ValidationError

MAX_K = 100
ALL_SEGMENTS = "*"
#: One category, or several (any but the empty list keeps only those).
Categories = str | Sequence[str]


@dataclass(frozen=True)
class Recommendation:
    """One recommended item and why."""

    item: str
    score: float
    title: str = ""
    category: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Recommendations:
    """What ``recommend`` answers."""

    user: str
    version: str
    strategy: str
    items: list[Recommendation] = field(default_factory=list)
    seconds: float = 0.0

    def ids(self) -> list[str]:
        return [r.item for r in self.items]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "items": [asdict(r) for r in self.items]}


def business_filter(
    engine: Recommender, categories: Categories = (), include_unavailable: bool = False
) -> Filter:
    """The metadata filter pushed down to the vector backend."""
    spec: dict[str, Any] = {}
    if engine.config.only_available and not include_unavailable:
        spec["available"] = True
    names = check_categories(categories)
    if names:
        spec["category"] = {"in": list(names)}
    return Filter.parse(spec)


def check_categories(categories: object) -> tuple[str, ...]:
    """The categories to keep: a single string is one category (as ``?category=running`` and
    ``--category running`` are), a list, tuple or set of strings is several; anything else is
    refused (a string is never taken letter by letter)."""
    if isinstance(categories, str):
        return (check_category(categories),)
    if isinstance(categories, Iterable) and not isinstance(categories, bytes | Mapping):
        return tuple(check_category(c) for c in categories)
    raise ValidationError(
        f"categories must be a category or a list of them, got {type(categories).__name__}"
    )


def check_category(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 100:
        raise ValidationError(f"category {value!r} must be 1-100 characters")
    return value.strip()


def check_k(k: object) -> int:
    """``k``, if it is a whole number of recommendations we serve (1 to :data:`MAX_K`)."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be between 1 and {MAX_K}, got {k!r}")
    return k


def recommend(
    engine: Recommender,
    user: str,
    *,
    k: int | None = None,
    categories: Categories = (),
    segment: str | None = None,
    include_unavailable: bool = False,
    record: bool = True,
) -> Recommendations:
    """The ``k`` items to show ``user`` now (see the module docs).

    Args:
        engine: The recommender.
        user: The user id.
        k: How many items, 1 to :data:`MAX_K` (default ``recommend.top_k``).
        categories: Keep only items of these categories: one (``"running"``) or several
            (``["running", "trail"]``); none keeps every category.
        segment: The segment whose popular items fill a cold start (default the user's).
        include_unavailable: Also items marked unavailable.
        record: Record the impression (``rec_served``) when ``record_impressions`` is on.

    Raises:
        ValidationError: a bad user id, ``k`` or category.
    """
    start = time.perf_counter()
    check_id(user, "user")
    k = check_k(engine.config.top_k if k is None else k)
    flt = business_filter(engine, categories, include_unavailable)
    profile = engine.profiles.get(user)
    exclude = set(profile["items"]) | set(profile["hidden"]) if profile else set()
    segment = segment or (profile or {}).get("segment") or ""
    model = engine.model()
    if model is None:
        return Recommendations(user, "", "none", [], time.perf_counter() - start)
    version, factors = model
    vector = in_model_space(profile, version.version, factors, engine.config) if profile else None
    picked: list[Recommendation] = []
    if vector is not None:
        picked = _personal(engine, version, factors, vector, k, flt, exclude)
    strategy = "personal" if picked else "popular"
    if len(picked) < k:
        taken = exclude | {r.item for r in picked}
        picked += _popular(engine, version, segment, k - len(picked), flt, taken)
    found = Recommendations(user, version.version, strategy, picked, time.perf_counter() - start)
    if record and engine.config.record_impressions and picked:
        served = UserEvent(
            user, "rec_served", time.time(), items=tuple(found.ids()), version=version.version
        )
        engine.impressions.add(served)
    return found


def _personal(
    engine: Recommender,
    version: ModelVersion,
    factors: ItemFactors,
    vector: Matrix,
    k: int,
    flt: Filter,
    exclude: set[str],
) -> list[Recommendation]:
    pool_size = max(engine.config.candidates, k)
    fetch = min(10_000, pool_size + len(exclude))
    matches = engine.vectors.query(version.collection, vector, k=fetch, flt=flt)
    pool = [m for m in matches if m.id not in exclude][:pool_size]
    if not pool:
        return []
    order = mmr_order(
        factors, [m.id for m in pool], [m.score for m in pool], k, engine.config.mmr_lambda
    )
    return [
        Recommendation(
            pool[n].id,
            round(pool[n].score, 6),
            str(pool[n].metadata.get("title", "")),
            str(pool[n].metadata.get("category", "")),
            "close to your recent items",
        )
        for n in order
    ]


def mmr_order(
    factors: ItemFactors, ids: list[str], scores: list[float], k: int, lam: float
) -> list[int]:
    """Positions of ``ids`` picked by maximal marginal relevance (all relevance at ``lam=1``)."""
    if lam >= 1.0 or len(ids) <= 1:
        return list(range(min(k, len(ids))))
    rel = np.asarray(scores, dtype=np.float64)
    spread = rel.max() - rel.min()
    rel = (rel - rel.min()) / spread if spread > 0 else np.ones_like(rel)
    unit = factors.unit[[factors.index[i] for i in ids]].astype(np.float64)
    closest = np.full(len(ids), -np.inf)
    chosen: list[int] = []
    for _ in range(min(k, len(ids))):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        value = lam * rel - (1.0 - lam) * penalty
        value[chosen] = -np.inf
        pick = int(np.argmax(value))
        chosen.append(pick)
        closest = np.maximum(closest, unit @ unit[pick])
    return chosen


def _popular(
    engine: Recommender,
    version: ModelVersion,
    segment: str,
    k: int,
    flt: Filter,
    taken: set[str],
) -> list[Recommendation]:
    ordered: list[tuple[str, str]] = []
    for name in dict.fromkeys([segment, ALL_SEGMENTS]):
        ordered += [(i, name) for i in version.popular.get(name, []) if i not in taken]
    wanted = list(dict.fromkeys(i for i, _ in ordered))[: k + 4 * len(taken) + 50]
    records = {r.id: r for r in engine.vectors.get(version.collection, wanted)}
    picked: list[Recommendation] = []
    seen: set[str] = set()
    for rank, (item, name) in enumerate(ordered):
        record = records.get(item)
        if item in seen or record is None or not flt.matches(record.metadata):
            continue
        seen.add(item)
        where = "overall" if name == ALL_SEGMENTS else f"in segment {name}"
        meta = record.metadata
        picked.append(
            Recommendation(
                item,
                round(1.0 / (1 + rank), 6),
                str(meta.get("title", "")),
                str(meta.get("category", "")),
                f"popular {where}",
            )
        )
        if len(picked) == k:
            break
    return picked

"""Sliding windows over event time, kept as buckets: exact for any arrival order.

A windowed feature with window ``W`` and resolution ``r`` keeps one partial aggregate per
bucket ``k = floor(t / r)`` of event time. Its value at read time ``T`` folds the buckets
``floor(T / r) - W/r < k <= floor(T / r)``: the events with event time in
``[(floor(T / r) + 1) * r - W, (floor(T / r) + 1) * r)``, a span of ``W`` ending with ``T``'s
bucket. With ``r = 1 s`` and whole-second times that is exactly ``(T - W, T]``.

Buckets are merged, never replaced, so events may arrive in any order and the result equals a
recount over the same events (``tests/apps/features/test_windows.py`` checks it with
hypothesis). After each event, buckets that no read at or after the newest event time can
reach are dropped; an event older than that horizon changes nothing a read can see.

Partial aggregates: ``count`` an int, ``sum`` a float, ``min``/``max`` a float, ``mean``
``[sum, count]``, ``distinct`` the sorted distinct values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from skybridge.apps.features.definitions import Feature

Buckets = dict[str, Any]


def bucket_of(t: float, resolution: float) -> int:
    return math.floor(t / resolution)


def contribution(feature: Feature, value: Any) -> Any:
    """What one event adds to its bucket (``value`` is the event's ``field``)."""
    kind = feature.agg
    if kind == "count":
        return 1
    if kind == "distinct":
        return [value]
    if kind == "mean":
        return [float(value), 1]
    return float(value)


def merge(kind: str, left: Any, right: Any) -> Any:
    """Two partial aggregates of ``kind`` as one."""
    if kind in ("count", "sum"):
        return left + right
    if kind == "min":
        return min(left, right)
    if kind == "max":
        return max(left, right)
    if kind == "mean":
        return [left[0] + right[0], left[1] + right[1]]
    return sorted(set(left) | set(right), key=_order)


def _order(value: Any) -> tuple[str, str]:
    return (type(value).__name__, str(value))


def add(feature: Feature, buckets: Buckets, t: float, value: Any, newest: float) -> Buckets:
    """``buckets`` (not changed) with the event at ``t`` added and unreachable buckets dropped.

    ``newest`` is the newest event time of the entity, this event included.
    """
    resolution = feature.resolution
    assert resolution is not None
    horizon = bucket_of(newest, resolution) - feature.buckets
    index = bucket_of(t, resolution)
    kept = {k: v for k, v in buckets.items() if int(k) > horizon}
    if index <= horizon:
        return kept
    key = str(index)
    part = contribution(feature, value)
    kept[key] = part if key not in kept else merge(feature.agg, kept[key], part)
    return kept


def value_at(feature: Feature, buckets: Mapping[str, Any], at: float) -> Any:
    """The feature's value at read time ``at`` (``None``: min/max/mean of no event)."""
    resolution = feature.resolution
    assert resolution is not None
    top = bucket_of(at, resolution)
    low = top - feature.buckets
    parts = [v for k, v in buckets.items() if low < int(k) <= top]
    return finish(feature.agg, parts)


def finish(kind: str, parts: Iterable[Any]) -> Any:
    """The value of partial aggregates folded together."""
    items = list(parts)
    if kind == "count":
        return int(sum(items))
    if kind == "sum":
        return float(math.fsum(items))
    if kind == "distinct":
        return len({v for part in items for v in part})
    if not items:
        return None
    if kind == "min":
        return min(items)
    if kind == "max":
        return max(items)
    total, n = math.fsum(p[0] for p in items), sum(p[1] for p in items)
    return total / n if n else None


def window_start(feature: Feature, at: float) -> float:
    """The first event time the window read at ``at`` covers."""
    resolution = feature.resolution
    assert resolution is not None
    assert feature.window is not None
    return (bucket_of(at, resolution) + 1) * resolution - feature.window

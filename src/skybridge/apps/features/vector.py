"""What a read returns: each feature's value at the read time, or why it is missing.

A feature is *missing* (value ``None``, with a reason) when the entity is unknown, when it
never had a value, when its newest update is older than its TTL at the read time (``stale``:
enforced on every read, online and offline), when a min/max/mean window holds no event, or
when a ratio's parts are missing or its denominator is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from skybridge.apps.features import windows
from skybridge.apps.features.definitions import Feature, FeatureView
from skybridge.apps.features.durations import format_duration
from skybridge.core.clock import duration_text, iso


class FeatureValue(NamedTuple):
    """One feature at the read time: ``value``, the event time it comes from, or a reason.

    A named tuple: a 100-entity read makes a thousand of these, and a tuple is built several
    times faster than a frozen dataclass.
    """

    value: Any
    event_time: float | None = None
    missing: str | None = None

    def to_dict(self, at: float) -> dict[str, Any]:
        age = None if self.event_time is None else round(at - self.event_time, 3)
        return {
            "value": self.value,
            "event_time": iso(self.event_time),
            "age_seconds": age,
            "missing": self.missing,
        }


@dataclass(frozen=True)
class FeatureVector:
    """The features of one entity of one view at read time ``at`` (epoch seconds)."""

    view: str
    entity: str
    at: float
    newest: float | None
    values: dict[str, FeatureValue] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.newest is not None

    @property
    def freshness(self) -> float | None:
        """Seconds from the entity's newest event to the read time."""
        return None if self.newest is None else self.at - self.newest

    def plain(self) -> dict[str, Any]:
        """Feature name -> value (``None`` when missing)."""
        return {name: v.value for name, v in self.values.items()}

    def missing(self) -> dict[str, str]:
        return {name: v.missing for name, v in self.values.items() if v.missing}

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": self.view,
            "entity": self.entity,
            "found": self.found,
            "read_at": iso(self.at),
            "newest_event_time": iso(self.newest),
            "freshness_seconds": None if self.freshness is None else round(self.freshness, 3),
            "features": {name: v.to_dict(self.at) for name, v in self.values.items()},
        }


UNKNOWN = "unknown entity: no event seen for it"
NO_VALUE = FeatureValue(None, None, "no value yet: no matching event had the field")
_LAST, _WINDOW, _RATIO = 0, 1, 2


class Reader:
    """A view's read plan, made once per view: evaluates entity documents at a read time.

    Reads are the hot path of the online store (and of every training-set row), so the plan
    keeps per feature only what evaluation needs, in view order.
    """

    def __init__(self, view: FeatureView) -> None:
        self.view = view
        self.plan = [(f.name, _code(f), view.ttl_of(f), f) for f in view.features]
        self.has_ratios = any(code == _RATIO for _, code, _, _ in self.plan)
        #: A view of last values only (the common shape) is read by a tighter loop.
        self.lasts_only = [(name, ttl) for name, code, ttl, _ in self.plan if code == _LAST]
        if len(self.lasts_only) < len(self.plan):
            self.lasts_only = []
        self.unknown = {f.name: FeatureValue(None, None, UNKNOWN) for f in view.features}

    def evaluate(self, entity: str, doc: Mapping[str, Any] | None, at: float) -> FeatureVector:
        """Every feature for the entity document ``doc`` at read time ``at``."""
        view = self.view
        if not doc:
            return FeatureVector(view.name, entity, at, None, dict(self.unknown))
        lasts = doc.get("l") or {}
        values: dict[str, FeatureValue] = {}
        if self.lasts_only:
            for name, ttl in self.lasts_only:
                values[name] = _last(lasts.get(name), ttl, at)
            return FeatureVector(view.name, entity, at, float(doc["t"]), values)
        wins, updated = doc.get("w") or {}, doc.get("u") or {}
        for name, code, ttl, feature in self.plan:
            if code == _LAST:
                values[name] = _last(lasts.get(name), ttl, at)
                continue
            if code == _WINDOW:
                found = _window(feature, wins.get(name) or {}, updated.get(name), at)
            else:
                values[name] = NO_VALUE  # placeholder keeping view order; set below
                continue
            values[name] = found if ttl is None else _stale(found, ttl, at)
        if self.has_ratios:
            for name, code, ttl, feature in self.plan:
                if code == _RATIO:
                    found = _ratio(feature, values)
                    values[name] = found if ttl is None else _stale(found, ttl, at)
        return FeatureVector(view.name, entity, at, float(doc["t"]), values)


_new = tuple.__new__  # a FeatureValue without the named tuple's Python-level __new__


def _last(stored: list[Any] | None, ttl: float | None, at: float) -> FeatureValue:
    """A last value stored as ``[value, event time, order]``, stale past ``ttl``."""
    if stored is None:
        return NO_VALUE
    found: FeatureValue = _new(FeatureValue, (stored[0], stored[1], None))
    if ttl is not None and at - stored[1] > ttl:
        return _stale(found, ttl, at)
    return found


def _code(feature: Feature) -> int:
    if feature.agg == "ratio":
        return _RATIO
    return _WINDOW if feature.windowed else _LAST


def evaluate(
    view: FeatureView, entity: str, doc: Mapping[str, Any] | None, at: float
) -> FeatureVector:
    """Every feature of ``view`` for the entity document ``doc`` at read time ``at``."""
    return Reader(view).evaluate(entity, doc, at)


def _window(
    feature: Feature, buckets: Mapping[str, Any], updated: float | None, at: float
) -> FeatureValue:
    value = windows.value_at(feature, buckets, at)
    if value is None:
        window = format_duration(feature.window or 0)
        return FeatureValue(None, updated, f"no event in the last {window}")
    return FeatureValue(value, updated)


def _ratio(feature: Feature, values: Mapping[str, FeatureValue]) -> FeatureValue:
    assert feature.of is not None
    top, bottom = (values[name] for name in feature.of)
    times = [t for t in (top.event_time, bottom.event_time) if t is not None]
    when = min(times) if times else None
    if top.missing or bottom.missing:
        part = feature.of[0] if top.missing else feature.of[1]
        return FeatureValue(None, when, f"{part} is missing")
    if not isinstance(bottom.value, int | float) or not isinstance(top.value, int | float):
        return FeatureValue(None, when, "a ratio needs numeric parts")
    if bottom.value == 0:
        return FeatureValue(None, when, f"{feature.of[1]} is 0")
    return FeatureValue(top.value / bottom.value, when)


def _stale(found: FeatureValue, ttl: float, at: float) -> FeatureValue:
    if found.missing or found.event_time is None:
        return found
    age = at - found.event_time
    if age <= ttl:
        return found
    reason = f"stale: updated {duration_text(age)} ago, ttl {format_duration(ttl)}"
    return FeatureValue(None, found.event_time, reason)

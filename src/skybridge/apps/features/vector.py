"""What a read returns: each feature's value at the read time, or why it is missing.

A feature is *missing* (value ``None``, with a reason) when the entity is unknown, when it
never had a value, when its newest update is older than its TTL at the read time (``stale``:
enforced on every read, online and offline), when a min/max/mean window holds no event, or
when a ratio's parts are missing or its denominator is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.features import windows
from skybridge.apps.features.definitions import Feature, FeatureView
from skybridge.apps.features.durations import format_duration, human_age, iso


@dataclass(frozen=True, slots=True)
class FeatureValue:
    """One feature at the read time: ``value``, the event time it comes from, or a reason."""

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


def evaluate(
    view: FeatureView, entity: str, doc: Mapping[str, Any] | None, at: float
) -> FeatureVector:
    """Every feature of ``view`` for the entity document ``doc`` at read time ``at``."""
    if not doc:
        unknown = {f.name: FeatureValue(None, None, UNKNOWN) for f in view.features}
        return FeatureVector(view.name, entity, at, None, unknown)
    values: dict[str, FeatureValue] = {}
    for feature in view.features:
        if feature.agg != "ratio":
            values[feature.name] = _stale(view, feature, _raw(feature, doc, at), at)
    for feature in view.features:
        if feature.agg == "ratio":
            values[feature.name] = _stale(view, feature, _ratio(feature, values), at)
    ordered = {f.name: values[f.name] for f in view.features}
    return FeatureVector(view.name, entity, at, float(doc["t"]), ordered)


def _raw(feature: Feature, doc: Mapping[str, Any], at: float) -> FeatureValue:
    if not feature.windowed:
        stored = doc.get("l", {}).get(feature.name)
        if stored is None:
            return FeatureValue(None, None, "no value yet: no matching event had the field")
        return FeatureValue(stored[0], float(stored[1]))
    updated = doc.get("u", {}).get(feature.name)
    value = windows.value_at(feature, doc.get("w", {}).get(feature.name, {}), at)
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


def _stale(view: FeatureView, feature: Feature, found: FeatureValue, at: float) -> FeatureValue:
    ttl = view.ttl_of(feature)
    if ttl is None or found.missing or found.event_time is None:
        return found
    age = at - found.event_time
    if age <= ttl:
        return found
    reason = f"stale: updated {human_age(age)} ago, ttl {format_duration(ttl)}"
    return FeatureValue(None, found.event_time, reason)

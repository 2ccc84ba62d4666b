"""One entity's online document: how an event folds into it, and what a read returns.

The document (JSON, one per view and entity)::

    {"t": newest event time, "n": events folded,
     "l": {feature: [value, event time, order]},      # last / last_time
     "w": {feature: {bucket: partial aggregate}},     # windowed, see windows.py
     "u": {feature: newest contributing event time}}  # windowed

A last value is replaced only by an event that is newer by ``(event time, order)`` (``order``
is the record's offset, so of two events with one time the later record wins): an older event
arriving late never overwrites a newer value. Folding never mutates the document it is given
(the stream runtime shares it with its cache).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from skybridge.apps.features import windows
from skybridge.apps.features.definitions import Feature, FeatureView
from skybridge.apps.features.durations import parse_event_time
from skybridge.core.errors import ValidationError

#: Longest entity key (kv keys are at most 1024 bytes, with the view's prefix).
MAX_ENTITY_BYTES = 512


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    """What a view reads from one event."""

    entity: str
    time: float
    order: int
    inputs: dict[str, Any]


def entity_key(value: Any, field: str) -> str:
    """The entity key as text (numbers allowed), checked for the kv store."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValidationError(f"event field {field!r} (the entity key) is missing or not text")
    key = str(value)
    if not key or "\x00" in key or len(key.encode()) > MAX_ENTITY_BYTES:
        raise ValidationError(f"entity key in {field!r} must be 1-{MAX_ENTITY_BYTES} bytes, no NUL")
    return key


def parse_event(view: FeatureView, event: Any, record_time: float, order: int) -> ParsedEvent:
    """The entity, event time and inputs of ``event`` (a decoded JSON object) for ``view``.

    Raises:
        ValidationError: not an object, no entity key, no valid time, or a numeric input that
            is not a number (the event is dead-lettered as a whole).
    """
    if not isinstance(event, Mapping):
        raise ValidationError(f"view {view.name!r} takes JSON objects, got {type(event).__name__}")
    entity = entity_key(event.get(view.entity), view.entity)
    field = view.timestamp
    time = record_time if field is None else parse_event_time(event.get(field), field)
    inputs = {name: event[name] for name in view.inputs if event.get(name) is not None}
    for feature in view.features:
        if feature.agg in ("sum", "min", "max", "mean") and feature.field in inputs:
            _check_number(inputs[feature.field], feature)
    return ParsedEvent(entity, time, order, inputs)


def _check_number(value: Any, feature: Feature) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValidationError(
            f"event field {feature.field!r} must be a number for feature {feature.name!r}"
        )


def fold(view: FeatureView, doc: Mapping[str, Any] | None, event: ParsedEvent) -> dict[str, Any]:
    """``doc`` with ``event`` folded in (a new document; ``doc`` is left as it was)."""
    base = doc or {}
    newest = max(event.time, base.get("t", event.time))
    lasts, wins, updated = dict(base.get("l", {})), dict(base.get("w", {})), dict(base.get("u", {}))
    for feature in view.features:
        if not feature.matches(event.inputs):
            continue
        value = event.inputs.get(feature.field) if feature.field else None
        if feature.agg in ("last", "last_time"):
            if feature.agg == "last" and value is None:
                continue
            shown = event.time if feature.agg == "last_time" else value
            if _newer(event, lasts.get(feature.name)):
                lasts[feature.name] = [shown, event.time, event.order]
        elif feature.windowed and (value is not None or feature.agg == "count"):
            buckets = wins.get(feature.name, {})
            wins[feature.name] = windows.add(feature, buckets, event.time, value, newest)
            updated[feature.name] = max(event.time, updated.get(feature.name, event.time))
    return {"t": newest, "n": base.get("n", 0) + 1, "l": lasts, "w": wins, "u": updated}


def _newer(event: ParsedEvent, stored: list[Any] | None) -> bool:
    return stored is None or (event.time, event.order) > (stored[1], stored[2])

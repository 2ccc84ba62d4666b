"""Point-in-time training sets from the offline log.

For each entity row (an entity key and an as-of time, plus any other columns such as a label)
every feature is computed from the logged events of that entity with event time at or before
the as-of time, folded with the same code as the online store and evaluated at the as-of time
(TTLs included). Nothing from after the as-of time can leak in, and a model trained on these
rows sees exactly what the online store would have served at that moment.

Rows are processed per entity in as-of order while its events are folded once in event-time
order, so a training set costs one pass over the log.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skybridge.apps.features.definitions import FeatureView
from skybridge.apps.features.durations import parse_event_time
from skybridge.apps.features.entity import entity_key, fold
from skybridge.apps.features.offline import LogRow
from skybridge.apps.features.vector import FeatureVector, Reader
from skybridge.core.errors import ValidationError


@dataclass
class TrainingSet:
    """The entity rows with their features at their as-of times (same order as given)."""

    view: str
    features: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        rows = [row | {"_missing": gone} for row, gone in zip(self.rows, self.missing, strict=True)]
        return {"view": self.view, "features": self.features, "rows": rows}


def _as_of(row: Mapping[str, Any], column: str, index: int) -> float:
    if column not in row:
        raise ValidationError(f"entity row {index} has no column {column!r}")
    try:
        return parse_event_time(row[column], column)
    except ValidationError as exc:
        raise ValidationError(f"entity row {index}: {exc.message}") from None


def training_set(
    view: FeatureView,
    log: Sequence[LogRow],
    entity_rows: Sequence[Mapping[str, Any]],
    *,
    as_of: str,
    entity_column: str | None = None,
) -> TrainingSet:
    """``entity_rows`` with ``view``'s features as of each row's ``as_of`` column.

    Raises:
        ValidationError: a row lacks the entity or as-of column, or a value is malformed
            (the message names the row).
    """
    column = entity_column or view.entity
    wanted: dict[str, list[tuple[float, int]]] = {}
    for i, row in enumerate(entity_rows):
        if column not in row:
            raise ValidationError(f"entity row {i} has no column {column!r}")
        key = entity_key(row[column], column)
        wanted.setdefault(key, []).append((_as_of(row, as_of, i), i))
    by_entity: dict[str, list[LogRow]] = {}
    for logged in log:
        if logged.entity in wanted:
            by_entity.setdefault(logged.entity, []).append(logged)
    vectors: dict[int, FeatureVector] = {}
    reader = Reader(view)
    for key, times in wanted.items():
        vectors.update(_sweep(reader, key, by_entity.get(key, []), sorted(times)))
    result = TrainingSet(view.name, [f.name for f in view.features])
    for i, row in enumerate(entity_rows):
        vector = vectors[i]
        result.rows.append(dict(row) | vector.plain())
        result.missing.append(vector.missing())
    return result


def _sweep(
    reader: Reader, entity: str, events: list[LogRow], times: list[tuple[float, int]]
) -> dict[int, FeatureVector]:
    view = reader.view
    events = sorted(events, key=lambda r: (r.event_time, r.offset))
    stamps = [r.event_time for r in events]
    doc: dict[str, Any] | None = None
    done = 0
    found: dict[int, FeatureVector] = {}
    for at, index in times:
        upto = bisect.bisect_right(stamps, at)
        for logged in events[done:upto]:
            doc = fold(view, doc, logged.parsed())
        done = max(done, upto)
        found[index] = reader.evaluate(entity, doc, at)
    return found

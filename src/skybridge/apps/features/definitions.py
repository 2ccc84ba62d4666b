"""Feature definitions: views of an entity's features over event time, from Python or YAML.

::

    view = FeatureView(
        name="user_activity", entity="userId", topic="UserEventsStream",
        features=[
            last("lastEventType", "eventType", ttl="1h"),
            count("count5min", window="5m"),
            ratio("purchaseRate1h", "purchases1h", "events1h"),
        ],
    )

The same in YAML (``load_views``)::

    views:
      - name: user_activity
        entity: userId
        topic: UserEventsStream
        features:
          - {name: lastEventType, agg: last, field: eventType, ttl: 1h}
          - {name: count5min, agg: count, window: 5m}

Aggregations: ``last`` (the latest value of ``field`` by event time), ``last_time`` (the event
time of the latest event), ``count``, ``sum``, ``min``, ``max``, ``mean`` and ``distinct``
(distinct values) over a sliding ``window``, and ``ratio`` of two other features. ``where``
keeps only events whose fields equal the given values. ``ttl`` (per feature, default the
view's) is enforced on every read. Windows are evaluated on buckets of ``resolution`` seconds:
see :mod:`skybridge.apps.features.windows`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from skybridge.apps.features.durations import format_duration, parse_duration
from skybridge.core.errors import ValidationError

Aggregation = Literal[
    "last", "last_time", "count", "sum", "min", "max", "mean", "distinct", "ratio"
]
WINDOWED = frozenset({"count", "sum", "min", "max", "mean", "distinct"})
NEEDS_FIELD = frozenset({"last", "sum", "min", "max", "mean", "distinct"})
#: Most buckets a default resolution gives a window.
MAX_BUCKETS = 300
_RESOLUTIONS = (1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 21600, 86400)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
Seconds = Annotated[float, BeforeValidator(parse_duration)]


def default_resolution(window: float) -> float:
    """The smallest round bucket width dividing ``window`` into at most 300 buckets."""
    for size in _RESOLUTIONS:
        if window % size == 0 and window / size <= MAX_BUCKETS:
            return float(size)
    return window / MAX_BUCKETS if window > MAX_BUCKETS else window


class Feature(BaseModel):
    """One feature of a view."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME.pattern, description="Feature name (letters, digits, _)")
    agg: Aggregation
    field: str | None = Field(default=None, description="The event field it reads")
    window: Seconds | None = Field(default=None, description="Sliding window (5m, 1h, 1d)")
    resolution: Seconds | None = Field(default=None, description="Bucket width of the window")
    ttl: Seconds | None = Field(default=None, description="Older values read as missing")
    where: dict[str, str | int | float | bool] = Field(default_factory=dict)
    of: tuple[str, str] | None = Field(default=None, description="ratio: numerator, denominator")
    default: float | None = Field(default=None, description="Model input when missing")
    description: str = ""

    @model_validator(mode="after")
    def _shape(self) -> Feature:
        kind = self.agg
        if kind in NEEDS_FIELD and not self.field:
            raise ValueError(f"feature {self.name!r}: agg {kind} needs field=")
        if kind in WINDOWED and self.window is None:
            raise ValueError(f"feature {self.name!r}: agg {kind} needs window= (e.g. 5m)")
        if kind not in WINDOWED and (self.window is not None or self.resolution is not None):
            raise ValueError(f"feature {self.name!r}: agg {kind} takes no window")
        if (kind == "ratio") != (self.of is not None):
            raise ValueError(f"feature {self.name!r}: of=[numerator, denominator] is for ratio")
        if self.window is not None:
            self._check_resolution(self.window)
        return self

    def _check_resolution(self, window: float) -> None:
        if self.resolution is None:
            object.__setattr__(self, "resolution", default_resolution(window))
        resolution = self.resolution
        assert resolution is not None
        buckets = window / resolution
        if resolution > window or abs(buckets - round(buckets)) > 1e-9:
            raise ValueError(
                f"feature {self.name!r}: resolution {format_duration(resolution)} must divide "
                f"window {format_duration(window)}"
            )
        if buckets > 10_000:
            raise ValueError(f"feature {self.name!r}: at most 10000 buckets per window")

    @property
    def windowed(self) -> bool:
        return self.agg in WINDOWED

    @property
    def buckets(self) -> int:
        """Buckets in the window (windowed features)."""
        assert self.window is not None
        assert self.resolution is not None
        return round(self.window / self.resolution)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether the event passes ``where``."""
        return all(event.get(k) == v for k, v in self.where.items())


class FeatureView(BaseModel):
    """The features of one entity, computed from the events of one topic."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME.pattern)
    entity: str = Field(min_length=1, description="Event field holding the entity key")
    topic: str = Field(min_length=1, description="Topic the events arrive on")
    timestamp: str | None = Field(
        default="timestamp", description="Event field with the event time (null: record time)"
    )
    ttl: Seconds | None = Field(default=None, description="Default TTL of its features")
    features: tuple[Feature, ...] = Field(min_length=1)
    description: str = ""

    @model_validator(mode="after")
    def _references(self) -> FeatureView:
        names = [f.name for f in self.features]
        twice = {n for n in names if names.count(n) > 1}
        if twice:
            raise ValueError(
                f"view {self.name!r}: feature names repeat: {', '.join(sorted(twice))}"
            )
        known = {f.name: f for f in self.features}
        for feature in self.features:
            for part in feature.of or ():
                if part not in known or known[part].agg == "ratio":
                    raise ValueError(
                        f"feature {feature.name!r}: {part!r} is not a non-ratio feature of the view"
                    )
        return self

    def feature(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise ValidationError(f"view {self.name!r} has no feature {name!r}")

    def ttl_of(self, feature: Feature) -> float | None:
        return feature.ttl if feature.ttl is not None else self.ttl

    @property
    def inputs(self) -> tuple[str, ...]:
        """The event fields the view reads (logged offline for every event)."""
        fields = {f.field for f in self.features if f.field}
        fields |= {k for f in self.features for k in f.where}
        return tuple(sorted(fields))


class ViewFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    views: list[FeatureView] = Field(min_length=1)


def _feature(name: str, agg: Aggregation, **options: Any) -> Feature:
    try:
        return Feature(name=name, agg=agg, **{k: v for k, v in options.items() if v is not None})
    except PydanticValidationError as exc:
        raise ValidationError(_problem(exc)) from None


def last(name: str, field: str, **options: Any) -> Feature:
    """The latest value of ``field`` by event time."""
    return _feature(name, "last", field=field, **options)


def last_time(name: str, **options: Any) -> Feature:
    """The event time of the latest event."""
    return _feature(name, "last_time", **options)


def count(name: str, *, window: float | str, **options: Any) -> Feature:
    """Events in the sliding ``window``."""
    return _feature(name, "count", window=window, **options)


def windowed(
    name: str, agg: Aggregation, field: str, *, window: float | str, **options: Any
) -> Feature:
    """``sum``/``min``/``max``/``mean``/``distinct`` of ``field`` over ``window``."""
    return _feature(name, agg, field=field, window=window, **options)


def ratio(name: str, numerator: str, denominator: str, **options: Any) -> Feature:
    """``numerator / denominator`` (two other features of the view)."""
    return _feature(name, "ratio", of=(numerator, denominator), **options)


def make_view(**fields: Any) -> FeatureView:
    """A :class:`FeatureView`, with errors as a ``ValidationError`` naming the field."""
    try:
        return FeatureView(**fields)
    except PydanticValidationError as exc:
        raise ValidationError(_problem(exc)) from None


def _problem(exc: PydanticValidationError, source: str = "") -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    prefix = f"{source}: " if source else ""
    return f"{prefix}{where}: {message}" if where else f"{prefix}{message}"


def parse_views(data: Any, source: str = "feature definitions") -> list[FeatureView]:
    """Views from parsed YAML/JSON (``{"views": [...]}``); errors name the place."""
    if not isinstance(data, dict):
        found = "nothing" if data is None else f"a {type(data).__name__}"
        raise ValidationError(
            f"{source}: holds {found}, not a mapping with a views list",
            hint="start the file with `views:` (see docs/features.md)",
        )
    try:
        views = ViewFile.model_validate(data).views
    except PydanticValidationError as exc:
        raise ValidationError(_problem(exc, source), hint="see docs/features.md") from None
    names = [v.name for v in views]
    if len(set(names)) != len(names):
        raise ValidationError(f"{source}: view names repeat")
    return views


def load_views(path: str | Path) -> list[FeatureView]:
    """Views from a YAML (or JSON) file."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValidationError(f"cannot read feature definitions {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValidationError(f"{file} is not valid YAML: {exc}") from None
    return parse_views(data, str(file))


def dump_views(views: Iterable[FeatureView]) -> str:
    """YAML text of ``views`` (``load_views`` reads it back to equal views)."""
    data = {"views": [v.model_dump(mode="json", exclude_defaults=True) for v in views]}
    return yaml.safe_dump(data, sort_keys=False)


def by_topic(views: Sequence[FeatureView]) -> dict[str, list[FeatureView]]:
    found: dict[str, list[FeatureView]] = {}
    for view in views:
        found.setdefault(view.topic, []).append(view)
    return found

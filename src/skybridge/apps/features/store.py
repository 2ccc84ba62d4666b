"""``FeatureStore``: the features app's Python API (the CLI, routes, page and handlers are thin
adapters over it).

::

    with open_store(ctx) as store:
        vector = store.get("realtime_features", ["u1"])[0]
        answer = store.predict("u1", {"amount": 12.0})
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from skybridge.apps.features.config import FeaturesConfig
from skybridge.apps.features.definitions import FeatureView, dump_views, load_views, parse_views
from skybridge.apps.features.entity import entity_key
from skybridge.apps.features.inference import Prediction, default_columns, model_row, new_prediction
from skybridge.apps.features.offline import OfflineLogSink, read_log
from skybridge.apps.features.online import OnlineStore
from skybridge.apps.features.training import TrainingSet, training_set
from skybridge.apps.features.vector import FeatureVector
from skybridge.apps.kit.context import AppContext
from skybridge.backends import kv as kv_family
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.models import ModelEndpoint
from skybridge.backends.objects import ObjectStore
from skybridge.backends.streams import StreamBackend
from skybridge.core.errors import ValidationError

Context = AppContext[FeaturesConfig]
EXAMPLES = Path(__file__).parent / "examples"
#: kv key of the definitions ``skybridge features apply`` stored.
APPLIED_KEY = "features/definitions"
#: Longest text label a feedback event carries.
MAX_LABEL = 200
#: ``SharedStore``'s applied version before it was read: equal to no version.
_UNREAD = object()


def shipped_views() -> list[FeatureView]:
    """The two example views: the original enrichment and feature-store pipelines."""
    return [v for path in sorted(EXAMPLES.glob("*.yaml")) for v in load_views(path)]


def resolve_views(config: FeaturesConfig, kv: KeyValueStore) -> list[FeatureView]:
    """``[features] definitions``, else what ``apply`` stored, else the shipped examples."""
    if config.definitions is not None:
        return load_views(config.definitions)
    stored = kv.get(APPLIED_KEY)
    if stored is not None:
        return parse_views(json.loads(stored), "applied definitions")
    return shipped_views()


def store_views(kv: KeyValueStore, views: Sequence[FeatureView]) -> None:
    data = {"views": [v.model_dump(mode="json", exclude_defaults=True) for v in views]}
    kv.put(APPLIED_KEY, json.dumps(data).encode())


@dataclass
class FeatureStore:
    """Views, their online store, the offline log, the model and the event stream."""

    views: list[FeatureView]
    online: OnlineStore
    objects: ObjectStore
    config: FeaturesConfig = field(default_factory=FeaturesConfig)
    streams: StreamBackend | None = None
    model: ModelEndpoint | None = None
    _topics: set[str] = field(default_factory=set, repr=False)

    @property
    def offline(self) -> OfflineLogSink:
        return OfflineLogSink(self.objects, self.config.offline_prefix, self.online.kv)

    def view(self, name: str | None = None) -> FeatureView:
        return self.online.view(name)

    def model_view(self) -> FeatureView:
        return self.view(self.config.model_view or self.views[0].name)

    def get(
        self, view: str | None, entities: Sequence[str], *, at: float | None = None
    ) -> list[FeatureVector]:
        """The current features of ``entities`` (TTLs enforced at ``at``, default now)."""
        return self.online.read(view, entities, at=at)

    def training_set(
        self,
        view: str | None,
        rows: Sequence[Mapping[str, Any]],
        *,
        as_of: str,
        entity_column: str | None = None,
    ) -> TrainingSet:
        """Point-in-time features for ``rows`` from the offline log (see :mod:`.training`)."""
        chosen = self.view(view)
        log = read_log(self.objects, chosen.name, self.config.offline_prefix)
        return training_set(chosen, log, rows, as_of=as_of, entity_column=entity_column)

    def model_columns(self) -> list[str]:
        if self.config.model_features:
            return list(self.config.model_features)
        own = self.model.columns if self.model is not None else None
        return list(own) if own else default_columns(self.model_view())

    def model_columns_for_training(self) -> list[str]:
        """The columns a model trained here takes: ``model_features`` or the numeric ones."""
        return list(self.config.model_features or default_columns(self.model_view()))

    def predict(self, entity: str, inputs: Mapping[str, Any] | None = None) -> Prediction:
        """The model's prediction for ``entity`` from its current features and ``inputs``."""
        started = time.perf_counter()
        if self.model is None:
            raise ValidationError("no model is configured", hint="set backends.models")
        view = self.model_view()
        vector = self.online.read_one(view.name, entity)
        columns = self.model_columns()
        row, filled = model_row(view, vector, columns, inputs or {}, self.config.missing_policy)
        answer = self.model.predict([[row[c] for c in columns]])[0]
        return new_prediction(answer, self.model.describe(), vector, row, filled, started)

    def feedback(self, prediction_id: str, entity: str, label: Any, **extra: Any) -> dict[str, Any]:
        """Publish a feedback event (the outcome of a prediction) to ``feedback_topic``.

        Raises:
            ValidationError: an empty or over-long prediction id or entity key; a label that is
                empty, not finite or longer than :data:`MAX_LABEL` characters.
        """
        if not 1 <= len(prediction_id) <= 200 or not prediction_id.strip():
            raise ValidationError("a prediction id is 1-200 characters, not only blanks")
        entity = entity_key(entity, "entity")
        if label is None or (isinstance(label, str) and not label.strip()):
            raise ValidationError("the label is empty", hint="give the outcome: a number or text")
        if isinstance(label, float) and not math.isfinite(label):
            raise ValidationError(f"the label {label} is not a finite number")
        if isinstance(label, str) and len(label) > MAX_LABEL:
            raise ValidationError(f"the label is longer than {MAX_LABEL} characters")
        if self.streams is None:
            raise ValidationError("no event stream is configured", hint="set backends.streams")
        event = {
            "predictionId": prediction_id,
            "entity": entity,
            "label": label,
            "timestamp": time.time(),
            **extra,
        }
        topic = self.config.feedback_topic
        if topic not in self._topics:
            self.streams.create_topic(topic)
            self._topics.add(topic)
        produced = self.streams.produce_one(
            topic, json.dumps(event, default=str).encode(), key=entity.encode()
        )
        return {
            "topic": topic,
            "partition": produced.partition,
            "offset": produced.offset,
            "event": event,
        }

    def dump(self) -> str:
        return dump_views(self.views)


def online_kv(ctx: Context) -> KeyValueStore:
    url = ctx.config.online
    return kv_family.connect(url, setting="features.online") if url else ctx.connect("kv")


@contextmanager
def open_store(ctx: Context, *, model: bool = True, streams: bool = True) -> Iterator[FeatureStore]:
    """A :class:`FeatureStore` on the context's backends, closed afterwards."""
    with ExitStack() as stack:
        kv = stack.enter_context(online_kv(ctx))
        views = resolve_views(ctx.config, kv)
        objects = stack.enter_context(ctx.connect("objects"))
        store = FeatureStore(views, OnlineStore(kv, views), objects, ctx.config)
        if streams:
            store.streams = stack.enter_context(ctx.connect("streams"))
        if model:
            store.model = stack.enter_context(connect_model(ctx))
        yield store


def connect_model(ctx: Context) -> ModelEndpoint:
    """The ``models`` backend, told the model columns when ``model_features`` names them."""
    columns = ctx.config.model_features
    options = {"columns": columns} if columns else {}
    return cast(ModelEndpoint, ctx.connect("models", **options))


class SharedStore:
    """One :class:`FeatureStore` kept open for a long-running process (the HTTP service).

    Backends are connected on first use and kept; the views are read again when the applied
    definitions change (one kv read per use), so ``skybridge features apply`` takes effect
    without a restart. The version of the definitions in use is recorded only once their views
    are in place (it is read before them), so a read that fails, or an ``apply`` in between,
    leaves the next use to read the views again.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._stack = ExitStack()
        self._store: FeatureStore | None = None
        self._applied: object = _UNREAD

    def get(self, *, model: bool = False, streams: bool = False) -> FeatureStore:
        """The store, with the model and the stream connected when asked for (first use), so a
        model that cannot be reached never stops feature reads."""
        with self._lock:
            if self._store is None:
                opened = open_store(self.ctx, model=False, streams=False)
                self._store = self._stack.enter_context(opened)
                self._applied = _UNREAD
            store = self._store
            if self.ctx.config.definitions is None:
                self._refresh(store)
            if model and store.model is None:
                store.model = self._stack.enter_context(connect_model(self.ctx))
            if streams and store.streams is None:
                store.streams = self._stack.enter_context(self.ctx.connect("streams"))
            return store

    def _refresh(self, store: FeatureStore) -> None:
        """Put in place the views of the applied definitions if their version changed."""
        version = self._version()
        if version == self._applied:
            return
        kv = store.online.kv
        views = resolve_views(self.ctx.config, kv)
        store.views = views
        store.online = OnlineStore(kv, views)
        self._applied = version

    def _version(self) -> int | None:
        assert self._store is not None
        item = self._store.online.kv.get_item(APPLIED_KEY)
        return None if item is None else item.version

    def close(self) -> None:
        with self._lock:
            self._stack.close()
            self._store = None

"""The online pipeline: events -> per-series features and score -> ``raw_events`` rows.

Each series is one state key (events should be produced with the series as record key, so a
series stays on one partition and in event-time order). The state holds the series' features
and detector (:class:`~.model.SeriesModel`) and is exactly-once with the runtime's guard; rows
are idempotent upserts keyed by event id. A repeat of the series' last event writes nothing; an
event older than the series' last one is inserted unscored (``reason`` says so) when its event
id is not stored yet, and writes nothing when it is, so a point delivered again (a retried POST,
a file run twice) keeps the score and flag it was stored with. Events that do not parse (a
series that is no usable name, a value out of range...) are dead-lettered to ``<topic>.dlq``
with the reason: the key function checks the series before any state is read, and the handler
raises :class:`~skybridge.core.errors.ValidationError` for the rest, which the runtime
dead-letters at once (only ``TransientError`` is retried).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.model import SeriesModel, event_row, late_row, scored
from skybridge.apps.anomaly.points import event_series, parse_point
from skybridge.apps.anomaly.table import create_tables
from skybridge.apps.kit.context import AppContext
from skybridge.backends.streams.records import Record
from skybridge.core.errors import NotFound
from skybridge.runtime.outputs import Event, Insert, Output, Upsert
from skybridge.runtime.pipeline import Pipeline, StatefulHandler
from skybridge.runtime.sinks import SQLSink

Context = AppContext[AnomalyConfig]
PIPELINE = "anomaly-online"


def series_key(record: Record, value: Any) -> str:
    """The state key: the event's series, else its record key, checked like every series.

    Raises:
        ValidationError: no usable series. The runtime dead-letters a record whose key
            function raises; an unchecked name (a NUL, say) would instead fail the state read
            of the whole batch, again on every retry.
    """
    default = record.key.decode("utf-8", errors="replace") if record.key else ""
    return event_series(value, default)


def score_events(config: AnomalyConfig) -> StatefulHandler:
    """The stateful handler: ``(series state, event) -> (state, [Upsert raw_events row])``."""
    live: dict[str, tuple[int, SeriesModel]] = {}

    def handle(state: Any, event: Event) -> tuple[Any, list[Output]]:
        point = parse_point(event.value, event.key)
        model = _model(live, point.series, state, config)
        if model.features.is_repeat_or_late(point):
            if point.event_id == model.features.last_id:
                return state, []
            last = datetime.fromtimestamp(model.features.last_time or 0.0, UTC)
            features = model.features.compute(point, config.season)
            row = late_row(point, features, config.detector, last.replace(tzinfo=None))
            return state, [Insert("raw_events", row)]
        features = model.features_of(point, config.season, config.feature_span)
        row = event_row(point, features, config.detector)
        if config.detection == "online":
            row = scored(row, *model.score(point, config.threshold_for(point.series)))
        doc = model.to_doc()
        live[point.series] = (model.features.count, model)
        return doc, [Upsert("raw_events", row)]

    return handle


def _model(
    live: dict[str, tuple[int, SeriesModel]], series: str, state: Any, config: AnomalyConfig
) -> SeriesModel:
    """The series' model: the live one when it is exactly the state, else rebuilt from it."""
    count = state.get("features", {}).get("count") if isinstance(state, dict) else None
    cached = live.get(series)
    if cached is not None and cached[0] == count and cached[1].detector_name == config.detector:
        return cached[1]
    if len(live) > 10_000:
        live.clear()
    return SeriesModel.from_doc(
        state if isinstance(state, dict) else None, config.detector, config.season
    )


def build_pipeline(ctx: Context) -> Pipeline:
    """The online pipeline on ``backends.streams`` -> ``backends.sql`` (state in ``kv``)."""
    streams = ctx.connect("streams")
    try:
        streams.describe(ctx.config.topic)
    except NotFound:
        streams.create_topic(ctx.config.topic, 1)
    engine = ctx.sql_engine()
    create_tables(engine)
    store = ctx.connect("kv")
    pipeline = Pipeline(
        PIPELINE,
        source=streams,
        topics=[ctx.config.topic],
        stateful=score_events(ctx.config),
        state=store,
        key=series_key,
        sinks={"sql": SQLSink(engine, {"raw_events": ["event_id"]})},
        poll_timeout=0.2,
    )

    def close() -> None:
        engine.dispose()
        store.close()
        streams.close()

    # ``run_pipeline`` (skybridge up / worker) and ``anomaly run`` call it when the run ends.
    setattr(pipeline, "close", close)  # noqa: B010
    return pipeline

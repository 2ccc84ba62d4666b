"""The feature pipeline on the stream runtime: events -> online documents + offline log.

One pipeline consumes every view's topic. For each event and each view of its topic the
handler returns an :class:`~skybridge.runtime.outputs.Update` of the entity's document (folded
by :func:`~.entity.fold`, applied exactly once by the kv sink's version guard) and an
``Upsert`` of the event's row to the offline log. A malformed event (no entity, no time, a
non-numeric input) is dead-lettered to ``<topic>.dlq`` with the reason and leaves no effect.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from skybridge.apps.features.definitions import FeatureView, by_topic
from skybridge.apps.features.entity import fold, parse_event
from skybridge.apps.features.offline import OfflineLogSink, log_row
from skybridge.apps.features.online import OnlineStore
from skybridge.runtime.outputs import Event, Output, Update, Upsert
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import Sink

OFFLINE_SINK = "offline"


def online_sink(view: FeatureView) -> str:
    """The name of a view's kv sink in the pipeline."""
    return f"online-{view.name}"


def feature_handler(
    views: Sequence[FeatureView], clock: Callable[[], float] = time.time
) -> Callable[[Event], list[Output]]:
    """The pure handler: the outputs of one event for every view of its topic."""
    topics = by_topic(views)

    def handle(event: Event) -> list[Output]:
        record = event.record
        source = f"{record.topic}/{record.partition}"
        outputs: list[Output] = []
        for view in topics.get(record.topic, ()):
            parsed = parse_event(view, event.value, record.timestamp, record.offset)
            outputs.append(
                Update(parsed.entity, partial(fold, view, event=parsed), online_sink(view))
            )
            outputs.append(Upsert(view.name, log_row(parsed, source, clock()), OFFLINE_SINK))
        return outputs

    return handle


def feature_sinks(online: OnlineStore, offline: OfflineLogSink) -> dict[str, Sink]:
    sinks: dict[str, Sink] = {online_sink(v): online.sink(v) for v in online.views.values()}
    sinks[OFFLINE_SINK] = offline
    return sinks


def feature_pipeline(
    views: Sequence[FeatureView],
    *,
    source: Any,
    online: OnlineStore,
    offline: OfflineLogSink,
    group: str = "features",
    **options: Any,
) -> Pipeline:
    """The :class:`Pipeline` computing ``views`` from ``source`` (a stream backend or URL)."""
    topics = sorted({view.topic for view in views})
    return Pipeline(
        "features",
        source=source,
        topics=topics,
        handler=feature_handler(views),
        sinks=feature_sinks(online, offline),
        group=group,
        **options,
    )

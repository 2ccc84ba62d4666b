"""Putting points on the stream: from the API, a CSV file, or the demo."""

from __future__ import annotations

import json
from collections.abc import Iterable

from skybridge.apps.anomaly.config import AnomalyConfig
from skybridge.apps.anomaly.points import Point, point_event
from skybridge.apps.kit.context import AppContext
from skybridge.backends.streams.base import StreamBackend
from skybridge.backends.streams.records import Message
from skybridge.core.errors import NotFound

Context = AppContext[AnomalyConfig]


def ensure_topic(streams: StreamBackend, topic: str) -> None:
    """Create ``topic`` (one partition) when it does not exist."""
    try:
        streams.describe(topic)
    except NotFound:
        streams.create_topic(topic, 1)


def produce_points(streams: StreamBackend, topic: str, points: Iterable[Point]) -> int:
    """Produce ``points`` keyed by series (one series stays on one partition, in order)."""
    messages = [
        Message(json.dumps(point_event(p)).encode(), p.series.encode(), (), None, p.epoch)
        for p in points
    ]
    if messages:
        streams.produce(topic, messages)
    return len(messages)


def ingest(ctx: Context, points: list[Point]) -> int:
    """Produce ``points`` to the app's topic on ``backends.streams``."""
    with ctx.connect("streams") as streams:
        ensure_topic(streams, ctx.config.topic)
        return produce_points(streams, ctx.config.topic, points)

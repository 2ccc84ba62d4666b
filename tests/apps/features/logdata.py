"""An offline log written the way the pipeline writes it, for the compaction tests: batches of
events of the ``realtime_features`` view, spread over days, some delivered twice."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from skybridge.apps.features.entity import ParsedEvent
from skybridge.apps.features.logstats import counted_stats, log_stats
from skybridge.apps.features.offline import OfflineLogSink, log_row, read_log
from skybridge.apps.features.store import shipped_views
from skybridge.apps.features.training import training_set
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.objects import ObjectStore
from skybridge.backends.streams import Record
from skybridge.runtime.outputs import Effect, Upsert

VIEW = "realtime_features"
PREFIX = "features/log"
SOURCE = "UserEventsStream/0"
#: Two closed days (days folders are the ingest days).
DAY_1 = datetime(2025, 3, 1, 10, tzinfo=UTC).timestamp()
DAY_2 = datetime(2025, 3, 2, 10, tzinfo=UTC).timestamp()


def batch(first: int, count: int, ingested_at: float, seed: int = 0) -> list[Effect]:
    """The offline log outputs of events ``first`` .. ``first + count - 1`` (their offsets)."""
    rng = random.Random(seed * 100_003 + first)
    record = Record("UserEventsStream", 0, first, None, b"")
    effects = []
    for offset in range(first, first + count):
        kind = rng.choice(["view", "view", "cart", "purchase"])
        amount = rng.randint(1, 90) if kind == "purchase" else 0
        event = ParsedEvent(
            f"user-{offset % 7}",
            DAY_1 - 3600 + offset * 7.0,
            offset,
            {"eventType": kind, "amount": amount},
        )
        row = log_row(event, SOURCE, ingested_at + offset / 1000)
        effects.append(Effect(record, 0, Upsert(VIEW, row, "offline")))
    return effects


def write_days(sink: OfflineLogSink, today: float) -> int:
    """Batches over two closed days and today, one of them delivered again batched otherwise:
    the number of distinct events written."""
    for first in range(0, 200, 20):
        sink.write(batch(first, 20, DAY_1))
    sink.write(batch(40, 30, DAY_1))  # a redelivery batched differently: 30 rows again
    for first in range(200, 350, 25):
        sink.write(batch(first, 25, DAY_2))
    for first in range(350, 400, 10):
        sink.write(batch(first, 10, today))
    return 400


def snapshot(objects: ObjectStore) -> list[tuple[Any, ...]]:
    """What readers get from the log: one row per event, with its inputs."""
    return [
        (r.entity, r.event_time, r.source, r.offset, r.ingested_at, r.inputs)
        for r in read_log(objects, VIEW, PREFIX)
    ]


def training(objects: ObjectStore) -> list[dict[str, Any]]:
    """A point-in-time training set from the log, as rows."""
    view = next(v for v in shipped_views() if v.name == VIEW)
    rows: Sequence[dict[str, Any]] = [
        {"userId": f"user-{i}", "as_of": DAY_1 - 3600 + at, "label": i % 2}
        for i in range(8)
        for at in (300.0, 1200.0, 2600.0)
    ]
    return training_set(view, read_log(objects, VIEW, PREFIX), rows, as_of="as_of").to_dict()[
        "rows"
    ]


def physical_rows(objects: ObjectStore) -> int:
    """Rows stored in the view's files (copies included)."""
    import io

    import pyarrow.parquet as pq

    return sum(
        pq.read_metadata(io.BytesIO(objects.get(key))).num_rows
        for key in objects.keys(f"{PREFIX}/{VIEW}/")
    )


def assert_counters_exact(kv: KeyValueStore, objects: ObjectStore) -> dict[str, Any]:
    """The counters the page shows equal the log: files and bytes listed, rows stored."""
    counted = counted_stats(kv, objects, VIEW, PREFIX)
    listed = log_stats(objects, VIEW, PREFIX)
    assert (counted["files"], counted["bytes"]) == (listed["files"], listed["bytes"]), counted
    assert counted["rows"] == physical_rows(objects), counted
    return counted

"""Stream sync: publish changes on the AWS side, apply them on the OCI side.

:func:`publish` produces change events keyed ``<table>:<key>`` (one row's changes stay in order
on one partition). :func:`build_stream` is the consumer: a runtime :class:`Pipeline` whose
handler validates each event into an ``Upsert`` and whose :class:`ChangeSink` applies a
batch's changes in one database transaction. The runtime commits the batch's offsets only
after that transaction (and after dead-lettering the events that failed validation), so a
consumer killed anywhere redelivers at most what it had not committed, and the version guard
makes applying it again a no-op: at-least-once delivery, exactly-once effect, never a
regression. Kafka, OCI Streaming (Kafka protocol), Kinesis and the embedded log all work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from skybridge.apps.datasync import metrics
from skybridge.apps.datasync.changes import DELETED, ORIGIN_AT, Change, parse_change
from skybridge.apps.datasync.config import TableSpec
from skybridge.apps.datasync.target import SqlTarget
from skybridge.backends.streams import Message, StreamBackend
from skybridge.core.errors import NotFound, ValidationError
from skybridge.runtime.outputs import Effect, Event, Insert, Output, Upsert
from skybridge.runtime.pipeline import Pipeline

#: Name of the consumer pipeline (and of its consumer group).
PIPELINE = "datasync-apply"
SINK = "target"


def ensure_topic(streams: StreamBackend, topic: str, partitions: int = 4) -> None:
    """Create ``topic`` unless it exists."""
    try:
        streams.describe(topic)
    except NotFound:
        streams.create_topic(topic, partitions)


def publish(
    streams: StreamBackend, topic: str, changes: Iterable[Change], tables: Mapping[str, TableSpec]
) -> int:
    """Produce ``changes`` to ``topic``; how many were produced."""
    messages = [
        Message(json.dumps(c.to_json()).encode(), c.message_key(tables[c.table]).encode())
        for c in changes
    ]
    if messages:
        streams.produce(topic, messages)
    return len(messages)


def change_outputs(tables: Mapping[str, TableSpec]) -> Callable[[Event], list[Output]]:
    """The pipeline's handler: one event -> one ``Upsert`` for the change sink.

    An event that is not a valid change raises ``ValidationError``; the runtime dead-letters
    it to ``<topic>.dlq`` with the reason and goes on.
    """

    def handle(event: Event) -> list[Output]:
        change = parse_change(event.value, tables)
        row = {**change.row, DELETED: change.op == "delete", ORIGIN_AT: change.at}
        return [Upsert(change.table, row, sink=SINK)]

    return handle


def _change(output: object) -> Change:
    # Insert is an Upsert that must never replace a stored row: this sink only upserts (over
    # older versions), so it refuses one rather than write it as an upsert.
    if isinstance(output, Insert):
        raise ValidationError(
            f"the change sink upserts and cannot apply an insert-only Insert, got {output!r}",
            hint="give the datasync change sink Upsert outputs; send Insert to the SQL sink",
        )
    if not isinstance(output, Upsert):
        raise ValidationError(f"the change sink takes Upsert outputs, got {output!r}")
    row = dict(output.row)
    deleted, at = bool(row.pop(DELETED)), float(row.pop(ORIGIN_AT))
    return Change(output.table, "delete" if deleted else "upsert", row, at)


class ChangeSink:
    """A runtime sink applying a batch's changes to the target in one transaction."""

    def __init__(self, target: SqlTarget) -> None:
        self.target = target

    def write(self, effects: Sequence[Effect]) -> int:
        changes = [_change(effect.output) for effect in effects]
        results = self.target.apply(changes)
        now = time.time()
        for result in results:
            metrics.count_applied(result.table, result.applied, result.stale)
        by_table: dict[str, list[float]] = {}
        for change in changes:
            by_table.setdefault(change.table, []).append(now - change.at)
        for table, lags in by_table.items():
            metrics.observe_latency(table, "stream", lags)
        return sum(r.applied for r in results)


@dataclass
class SyncPipeline(Pipeline):
    """The consumer pipeline; :meth:`close` releases the backends it was built on."""

    on_close: Callable[[], None] | None = None

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()


def build_stream(
    source: StreamBackend,
    topic: str,
    target: SqlTarget,
    *,
    batch_size: int = 500,
    group: str = PIPELINE,
    on_close: Callable[[], None] | None = None,
) -> SyncPipeline:
    """The consumer pipeline from ``topic`` on ``source`` into ``target``."""
    handler = change_outputs(target.schema.specs)
    return SyncPipeline(
        PIPELINE,
        source=source,
        topics=[topic],
        group=group,
        handler=handler,
        sinks={SINK: ChangeSink(target)},
        batch_size=batch_size,
        poll_timeout=0.2,
        on_close=on_close,
    )

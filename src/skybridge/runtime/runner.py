"""The consume loop: poll a batch, process it, produce dead letters, commit, repeat.

Offsets are committed only after the batch's sinks, state and dead letters are written. A stop
request (``stop()``, SIGTERM/SIGINT in a worker) is honoured between batches: the batch in
flight finishes, is committed, the member leaves its group and :meth:`PipelineRunner.run`
returns.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.streams.base import Consumer, StreamBackend
from skybridge.backends.streams.records import Record, next_positions
from skybridge.core.errors import Conflict
from skybridge.core.observability import get_logger
from skybridge.core.retry import call_with_retry
from skybridge.runtime import metrics
from skybridge.runtime.batch import BatchProcessor, BatchResult
from skybridge.runtime.deadletter import ensure_dlq
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.state import GuardedStore

log = get_logger(__name__)
#: Seconds between consumer-lag gauge updates.
_LAG_INTERVAL = 5.0


@dataclass
class RunStats:
    """Totals of one :meth:`PipelineRunner.run`."""

    records: int = 0
    batches: int = 0
    skipped: int = 0
    dead_letters: int = 0
    written: Counter[str] = field(default_factory=Counter)


class PipelineRunner:
    """Runs one pipeline in this process as one member of its consumer group."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        source = pipeline.source
        self.backend: StreamBackend = (
            streams_family.connect(source, setting=None) if isinstance(source, str) else source
        )
        state = None
        if pipeline.state is not None:
            store = pipeline.state
            kv = kv_family.connect(store, setting=None) if isinstance(store, str) else store
            state = GuardedStore(kv, prefix=f"state/{pipeline.name}/")
        self.processor = BatchProcessor(pipeline, state)
        self._stop = threading.Event()
        self._lag_at = 0.0
        self.stats = RunStats()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, idle_exit: float | None = None, max_batches: int | None = None) -> RunStats:
        p = self.pipeline
        consumer = self.backend.consumer(p.group_id, list(p.topics), start=p.start)
        idle_since = time.monotonic()
        try:
            while not self._stop.is_set():
                batch = consumer.poll(p.batch_size, p.poll_timeout)
                if batch:
                    self.process(consumer, batch)
                    idle_since = time.monotonic()
                elif not consumer.assignment():
                    idle_since = time.monotonic()  # waiting for partitions is not idleness
                elif idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    break
                self._update_lag()
                if max_batches is not None and self.stats.batches >= max_batches:
                    break
        finally:
            consumer.close()
        log.info("pipeline stopped", pipeline=p.name, records=self.stats.records)
        return self.stats

    def process(self, consumer: Consumer, batch: Sequence[Record]) -> BatchResult:
        """Process ``batch`` and commit it (the unit the crash tests cut through)."""
        name = self.pipeline.name
        started = time.perf_counter()
        metrics.RECORDS_IN.labels(name).inc(len(batch))
        result = self.processor.process(batch)
        self._dead_letter(result)
        self._commit(consumer, batch)
        metrics.PROCESSING_SECONDS.labels(name).observe(time.perf_counter() - started)
        for sink, count in result.written.items():
            metrics.RECORDS_OUT.labels(name, sink).inc(count)
        self.stats.records += len(batch)
        self.stats.batches += 1
        self.stats.skipped += result.skipped
        self.stats.written.update(result.written)
        return result

    def _dead_letter(self, result: BatchResult) -> None:
        if not result.letters:
            return
        by_topic: dict[str, list[Record]] = {}
        for record, _message in result.letters:
            by_topic.setdefault(record.topic, []).append(record)
        for topic in by_topic:
            name = ensure_dlq(self.backend, topic)
            messages = [m for r, m in result.letters if r.topic == topic]
            call_with_retry(
                partial(self.backend.produce, name, messages),
                self.pipeline.sink_retry,
                operation=f"{self.pipeline.name}.dead_letter",
            )
        for _record, message in result.letters:
            error = dict(message.headers).get("skybridge-dlq-error-type", b"").decode()
            metrics.DEAD_LETTERS.labels(self.pipeline.name, error).inc()
        self.stats.dead_letters += len(result.letters)

    def _commit(self, consumer: Consumer, batch: Sequence[Record]) -> None:
        positions = next_positions(batch)
        try:
            call_with_retry(
                lambda: consumer.commit(positions),
                self.pipeline.sink_retry,
                operation=f"{self.pipeline.name}.commit",
            )
        except Conflict as exc:
            # Rebalanced away mid-batch: the new owner gets the records again, and the
            # guarded sinks and state make that harmless.
            log.warning(
                "commit refused after rebalance", pipeline=self.pipeline.name, error=str(exc)
            )

    def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < _LAG_INTERVAL:
            return
        self._lag_at = now
        for topic in self.pipeline.topics:
            try:
                lag = self.backend.total_lag(self.pipeline.group_id, topic)
            except Exception as exc:  # lag is best effort; never stop processing for it
                log.debug("lag unavailable", topic=topic, error=str(exc))
                continue
            metrics.CONSUMER_LAG.labels(self.pipeline.name, topic).set(lag)

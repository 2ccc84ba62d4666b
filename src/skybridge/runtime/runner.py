"""The consume loop: poll a batch, process it (dead letters are produced before its kv
flush, see :mod:`.batch`), commit, repeat.

Offsets are committed only after the batch's sinks, state and dead letters are written. A stop
request (``stop()``, SIGTERM/SIGINT in a worker) is honoured between batches: the batch in
flight finishes, is committed, the member leaves its group and :meth:`PipelineRunner.run`
returns. A stop requested before the first poll (while backends connect) is honoured too: the
runner then returns without joining the group.

With ``idle_exit``, a run ends once no record came for that many seconds while the member held
partitions. Waiting for partitions is not idleness (a group join or rebalance takes a few
seconds), but it is bounded: a member that other members of its group leave nothing to (a
running service or worker holds every partition) gives up after :data:`ASSIGNMENT_WAIT` seconds,
with :class:`~skybridge.core.errors.Conflict` if it never held any, so a one-off command says so
instead of waiting for ever.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from skybridge.backends import kv as kv_family
from skybridge.backends import streams as streams_family
from skybridge.backends.streams.base import Consumer, StreamBackend
from skybridge.backends.streams.records import Message, Record, next_positions
from skybridge.core.errors import Conflict, TransientError
from skybridge.core.observability import get_logger
from skybridge.core.retry import call_with_retry
from skybridge.runtime import metrics
from skybridge.runtime.batch import BatchProcessor, BatchResult
from skybridge.runtime.deadletter import ensure_dlq
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.state import GuardedStore
from skybridge.runtime.window_ops import WindowOperator

log = get_logger(__name__)
#: Seconds between consumer-lag gauge updates.
_LAG_INTERVAL = 5.0
#: Seconds a run with ``idle_exit`` waits for partitions before it gives up: three default
#: session timeouts (10 s), time for a crashed member's partitions to move and a rebalance.
ASSIGNMENT_WAIT = 30.0


@dataclass
class RunStats:
    """Totals of one :meth:`PipelineRunner.run`."""

    records: int = 0
    batches: int = 0
    skipped: int = 0
    dead_letters: int = 0
    written: Counter[str] = field(default_factory=Counter)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch runs.

    A batch allocates hundreds of thousands of short-lived objects (records, events, outputs)
    that reference counting frees; with the collector on, they trigger dozens of collections
    per batch that each walk every live object (the state cache included), which halved
    throughput in the enrichment benchmark. The collector runs again between batches.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def gather(
    consumer: Consumer,
    pipeline: Pipeline,
    *,
    stop: threading.Event | None = None,
    deferred: list[Exception] | None = None,
) -> list[Record]:
    """One batch, sized by the backlog: wait up to ``poll_timeout`` for the first records,
    then keep taking records that are already waiting, until ``batch_size`` records or
    ``batch_wait`` seconds.

    A quiet stream gets small batches at once (no waiting for a batch to fill); a backlog gets
    full ones, which spread the per-batch costs (one kv flush, one offset commit, one state
    write per key however many of its records the batch holds) over many records.

    A first poll failing as transient (Kinesis allows five reads a second per shard) is tried
    again under ``pipeline.sink_retry``, pausing on ``stop`` (set: the batch is empty). A poll
    failing after records were taken ends the batch with them: a transient error is left to
    the next batch's polls; any other goes to ``deferred``, for the caller to raise once the
    batch is processed (without ``deferred`` it is raised at once, the batch dropped
    uncommitted).
    """
    size = pipeline.batch_size
    halt = stop if stop is not None else threading.Event()

    def first() -> list[Record]:
        if halt.is_set():
            return []
        return consumer.poll(size, pipeline.poll_timeout)

    def pause(seconds: float) -> None:
        halt.wait(seconds)

    try:
        batch = call_with_retry(first, pipeline.sink_retry, operation="poll", sleep=pause)
    except TransientError:
        if halt.is_set():
            return []
        raise
    if not batch or len(batch) >= size:
        return batch
    deadline = time.monotonic() + pipeline.batch_wait
    while len(batch) < size and time.monotonic() < deadline:
        try:
            more = consumer.poll(size - len(batch), 0)
        except TransientError as exc:
            log.info(
                "poll failed after records were taken: processing those first",
                pipeline=pipeline.name,
                error=str(exc),
            )
            break
        except Exception as exc:
            if deferred is None:
                raise
            deferred.append(exc)
            break
        if not more:
            break
        batch += more
    return batch


class PipelineRunner:
    """Runs one pipeline in this process as one member of its consumer group."""

    def __init__(self, pipeline: Pipeline, stop: threading.Event | None = None) -> None:
        """``stop``: the event that stops :meth:`run` (the pipeline's, so a stop requested
        while this constructor connects backends is not lost)."""
        self.pipeline = pipeline
        self._stop = stop if stop is not None else threading.Event()
        self._told_waiting = False
        source = pipeline.source
        self.backend: StreamBackend = (
            streams_family.connect(source, setting=None) if isinstance(source, str) else source
        )
        state = windows = None
        if pipeline.state is not None:
            store = pipeline.state
            kv = kv_family.connect(store, setting=None) if isinstance(store, str) else store
            state = GuardedStore(kv, prefix=f"state/{pipeline.name}/")
            if pipeline.window is not None:
                assert pipeline.aggregate is not None
                options = {
                    "grace": pipeline.grace,
                    "lateness": pipeline.lateness,
                    "late_policy": pipeline.late_policy,
                    "idle_timeout": pipeline.idle_timeout,
                }
                windows = WindowOperator(
                    pipeline.name, kv, pipeline.window, pipeline.aggregate, options, pipeline.clock
                )
        self.processor = BatchProcessor(pipeline, state, windows, self._produce_letters)
        self._lag_at = 0.0
        self.stats = RunStats()

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, *, idle_exit: float | None = None, max_batches: int | None = None) -> RunStats:
        p = self.pipeline
        if self._stop.is_set():  # stopped while connecting: do not join the group at all
            log.info("pipeline stopped before its first poll", pipeline=p.name)
            return self.stats
        consumer = self.consumer()
        idle_since = held_since = time.monotonic()  # held_since: last seen holding partitions
        held_any = False
        try:
            while not self._stop.is_set():
                batch = self.step(consumer)
                now = time.monotonic()
                if batch:
                    idle_since = held_since = now
                    held_any = True
                elif not consumer.assignment():
                    idle_since = now  # waiting for partitions is not idleness
                    if idle_exit is not None and self._gave_up(
                        now - held_since, idle_exit, held_any
                    ):
                        break
                else:
                    held_since, held_any = now, True
                    if idle_exit is not None and now - idle_since >= idle_exit:
                        break
                    self._close_idle_windows(consumer)
                self._update_lag()
                if max_batches is not None and self.stats.batches >= max_batches:
                    break
        finally:
            consumer.close()
        log.info("pipeline stopped", pipeline=p.name, records=self.stats.records)
        return self.stats

    def _gave_up(self, waited: float, idle_exit: float, held_any: bool) -> bool:
        """Whether a run with ``idle_exit`` stops waiting for partitions after ``waited``
        seconds without any. Raises Conflict when it never held one."""
        p = self.pipeline
        if waited < max(idle_exit, ASSIGNMENT_WAIT):
            if waited >= idle_exit and not self._told_waiting:
                self._told_waiting = True
                log.warning(
                    "waiting for partitions: the group is still assigning them, or other "
                    "members hold them",
                    pipeline=p.name,
                    group=p.group_id,
                    gives_up_after_s=ASSIGNMENT_WAIT,
                )
            return False
        topics = ", ".join(p.topics)
        if not held_any:
            raise Conflict(
                f"pipeline {p.name!r} got no partition of {topics} in {waited:.0f} s: other "
                f"members of consumer group {p.group_id!r} hold them all",
                hint="a running `skybridge up` or `skybridge worker` on the same backends "
                "processes these records; stop it to process them here",
            )
        log.warning(
            "pipeline lost its partitions to other members; stopping",
            pipeline=p.name,
            waited=waited,
        )
        return True

    def consumer(self) -> Consumer:
        """Join the group; cached documents are dropped whenever partitions move."""
        p = self.pipeline

        def moved(_partitions: object) -> None:
            self.processor.invalidate()

        return self.backend.consumer(
            p.group_id, list(p.topics), start=p.start, on_assign=moved, on_revoke=moved
        )

    def step(self, consumer: Consumer) -> list[Record]:
        """Poll one batch and, if it has records, process and commit it; the records."""
        deferred: list[Exception] = []
        with gc_paused():
            batch = gather(consumer, self.pipeline, stop=self._stop, deferred=deferred)
            if batch:
                self.process(consumer, batch)
        if deferred:
            raise deferred[0]  # what the consumer met after the batch it returned
        return batch

    def process(self, consumer: Consumer, batch: Sequence[Record]) -> BatchResult:
        """Process ``batch`` and commit it (the unit the crash tests cut through)."""
        name = self.pipeline.name
        started = time.perf_counter()
        metrics.RECORDS_IN.labels(name).inc(len(batch))
        with gc_paused():
            result = self.processor.process(batch)  # dead letters produced before its flush
        self._count_letters(result)
        self._commit(consumer, batch)
        metrics.PROCESSING_SECONDS.labels(name).observe(time.perf_counter() - started)
        for sink, count in result.written.items():
            metrics.RECORDS_OUT.labels(name, sink).inc(count)
        self.stats.records += len(batch)
        self.stats.batches += 1
        self.stats.skipped += result.skipped
        self.stats.written.update(result.written)
        return result

    def _close_idle_windows(self, consumer: Consumer) -> None:
        """Emit windows the clock closed while no record came (nothing to commit)."""
        if self.processor.windows is None:
            return
        result = self.processor.tick(sorted(consumer.assignment()))
        self._count_letters(result)
        for sink, count in result.written.items():
            metrics.RECORDS_OUT.labels(self.pipeline.name, sink).inc(count)
        self.stats.written.update(result.written)

    def _produce_letters(self, letters: list[tuple[Record, Message]]) -> None:
        """Produce dead letters to ``<topic>.dlq`` (called by the batch before its flush)."""
        by_topic: dict[str, list[Message]] = {}
        for record, message in letters:
            by_topic.setdefault(record.topic, []).append(message)
        for topic, messages in by_topic.items():
            name = ensure_dlq(self.backend, topic)
            call_with_retry(
                partial(self.backend.produce, name, messages),
                self.pipeline.sink_retry,
                operation=f"{self.pipeline.name}.dead_letter",
            )

    def _count_letters(self, result: BatchResult) -> None:
        if not result.letters:
            return
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
            # Rebalanced away mid-batch: nothing of the batch was committed and the consumer
            # rewound to the committed offsets, so the records are read again (by the new
            # owner, or here if the partition comes back); guarded sinks and state make
            # that harmless.
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
            metrics.GROUP_LAG.labels(self.pipeline.group_id, topic).set(lag)

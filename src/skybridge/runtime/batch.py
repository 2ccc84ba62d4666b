"""One batch of a pipeline: decode, handle, window, write sinks, flush kv documents.

Order matters for exactly-once effects:

1. handlers run (state read from the worker's cache, see :mod:`.state`) and windows fold;
2. sinks that write elsewhere (stream, SQL, notify) are written;
3. every kv document of the batch — kv sink documents, then window state, then handler
   state — is flushed by one :meth:`~.writes.WriteSet.flush`: one ``write_batch`` per kv
   store, a single transaction on stores with ``atomic_batch``;
4. the runner produces dead letters and only then commits offsets.

If the process dies anywhere in between, the batch is delivered again and:

* a record whose change is already in its key's state (state guard >= its offset) is skipped
  entirely: its effects were flushed with (or, on other stores, before) that state;
* a record at or below its partition's window offset is not folded into windows again;
* otherwise it is handled again (handlers are deterministic functions of state and record) and
  the guarded kv sinks skip the effects they already applied.

If a flush finds a document changed by another writer (a rebalance race, or keys shared across
partitions), caches are dropped and the batch is processed again from the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from skybridge.backends.streams.records import Message, Record, TopicPartition
from skybridge.core.errors import Conflict, TransientError, ValidationError
from skybridge.core.observability import get_logger
from skybridge.core.retry import call_with_retry
from skybridge.runtime.deadletter import dead_letter
from skybridge.runtime.outputs import Effect, Event, Output
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import Sink, StagingSink
from skybridge.runtime.state import Guarded, GuardedStore
from skybridge.runtime.window_ops import PartitionWindows, WindowOperator
from skybridge.runtime.windows import Emitted
from skybridge.runtime.writes import StaleDocuments, WriteSet

T = TypeVar("T")
log = get_logger(__name__)
#: Times a batch is redone after its flush met documents changed by another writer.
_STALE_ATTEMPTS = 5


@dataclass
class BatchResult:
    """What a batch produced: effects applied per sink, dead letters to produce."""

    written: dict[str, int] = field(default_factory=dict)
    letters: list[tuple[Record, Message]] = field(default_factory=list)
    skipped: int = 0


class BatchProcessor:
    """Runs batches for one pipeline (state store and sinks already connected)."""

    def __init__(
        self,
        pipeline: Pipeline,
        state: GuardedStore | None,
        windows: WindowOperator | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.state = state
        self.windows = windows
        self.sinks: dict[str, Sink] = dict(pipeline.sinks)

    def invalidate(self) -> None:
        """Forget cached state, kv sink documents and window aggregations (rebalance)."""
        if self.state is not None:
            self.state.invalidate()
        for sink in self.sinks.values():
            if isinstance(sink, StagingSink):
                sink.invalidate()
        if self.windows is not None:
            self.windows.invalidate()

    def process(self, records: Sequence[Record]) -> BatchResult:
        for attempt in range(1, _STALE_ATTEMPTS + 1):
            try:
                return self._process(records)
            except StaleDocuments as exc:
                self.invalidate()
                if attempt == _STALE_ATTEMPTS:
                    raise Conflict(f"kv documents kept changing under the pipeline: {exc}") from exc
                log.info("batch redone: documents changed", pipeline=self.pipeline.name)
            except BaseException:
                if self.windows is not None:
                    self.windows.invalidate()  # they folded records that were not flushed
                raise
        raise AssertionError("unreachable")

    def _process(self, records: Sequence[Record]) -> BatchResult:
        result = BatchResult()
        events = [e for r in records if (e := self._event(r, result)) is not None]
        writes = WriteSet()
        state_docs: dict[str, Guarded] = {}
        if self.pipeline.stateful is not None:
            effects, state_docs = self._stateful(events, result)
        elif self.pipeline.handler is not None:
            effects = self._pure(events, result)
        else:
            effects = []
        if self.windows is not None:
            effects.extend(self._window(events, self.windows))
        self._write_sinks(effects, result, writes)
        if self.windows is not None:
            self.windows.stage(writes)
        if self.state is not None:
            for key, doc in state_docs.items():
                writes.stage(self.state, key, doc)
        self._flush(writes)
        return result

    def tick(self, assignment: Iterable[TopicPartition]) -> BatchResult:
        """Close windows the clock closed on idle partitions; flush their results."""
        result = BatchResult()
        if self.windows is None:
            return result
        effects: list[Effect] = []
        for tp in assignment:
            part = self.windows.get(tp)
            emitted = part.agg.advance()
            if emitted.results or emitted.late:
                effects.extend(self._window_effects(part.close_record(), emitted))
                self.windows.touched.add(tp)
        if not self.windows.touched:
            return result
        writes = WriteSet()
        try:
            self._write_sinks(effects, result, writes)
            self.windows.stage(writes)
            self._flush(writes)
        except BaseException:
            self.invalidate()  # the aggregations moved on; rebuild them from the store
            raise
        return result

    def _flush(self, writes: WriteSet) -> None:
        self._retry(writes.flush, "flush")

    def _event(self, record: Record, result: BatchResult) -> Event | None:
        try:
            value = self.pipeline.decode(record.value)
            return Event(record, self.pipeline.key(record, value), value)
        except Exception as exc:
            self._poison(record, exc, result)
            return None

    def _pure(self, events: list[Event], result: BatchResult) -> list[Effect]:
        handler = self.pipeline.handler
        assert handler is not None
        effects: list[Effect] = []
        for event in events:
            outputs = self._handle(partial(_pure_call, handler, event), event, result)
            if outputs:
                effects.extend(_effects(event.record, outputs))
        return effects

    def _stateful(
        self, events: list[Event], result: BatchResult
    ) -> tuple[list[Effect], dict[str, Guarded]]:
        handler = self.pipeline.stateful
        store = self.state
        assert handler is not None
        assert store is not None
        docs = self._retry(lambda: store.load_cached([e.key for e in events]), "state")
        current = {key: doc.value for key, doc in docs.items()}
        guards: dict[str, dict[str, int]] = {}
        effects: list[Effect] = []
        for event in events:
            record, key = event.record, event.key
            source, offset = f"{record.topic}/{record.partition}", record.offset
            doc = docs[key]
            if offset <= doc.guard.get(source, -1):
                result.skipped += 1  # already in state, so its effects were written
                continue
            call = partial(_stateful_call, handler, current[key], event)
            handled = self._handle(call, event, result)
            if handled is None:
                continue
            current[key], outputs = handled
            guard = guards.get(key)
            if guard is None:
                guard = guards[key] = dict(doc.guard)
            guard[source] = offset  # records of a partition come in offset order
            if outputs:
                effects.extend(_effects(record, outputs))
        changed = {k: Guarded(current[k], g, docs[k].version) for k, g in guards.items()}
        return effects, changed

    def _window(self, events: list[Event], windows: WindowOperator) -> list[Effect]:
        p = self.pipeline
        effects: list[Effect] = []
        part: PartitionWindows | None = None
        for event in events:
            record = event.record
            tp = TopicPartition(record.topic, record.partition)
            if part is None or part.tp != tp:
                part = windows.get(tp)
            if record.offset <= part.offset:
                continue  # folded in before a crash: the window state has it
            source = f"{record.topic}/{record.partition}"
            emitted = part.agg.process(
                event.key, p.timestamp(event), p.window_value(event), partition=source
            )
            part.folded(record.offset)
            windows.touched.add(tp)
            if emitted.results or emitted.late:
                effects.extend(self._window_effects(record, emitted))
        return effects

    def _window_effects(self, record: Record, emitted: Emitted[Any, Any]) -> list[Effect]:
        outputs: list[Output] = []
        for window_result in emitted.results:
            outputs.extend(self.pipeline.window_outputs(window_result))
        if emitted.late and self.pipeline.on_late is not None:
            for late in emitted.late:
                outputs.extend(self.pipeline.on_late(late))
        # Window effects follow the record's handler effects: index them after those.
        return [Effect(record, 1_000_000 + i, out) for i, out in enumerate(outputs)]

    def _handle(self, call: Callable[[], T], event: Event, result: BatchResult) -> T | None:
        # The first attempt runs bare (the hot path); only a transient failure pays for the
        # retry machinery, with the attempts the policy has left.
        policy = self.pipeline.retry
        try:
            return call()
        except TransientError as exc:
            if policy.attempts <= 1:
                self._poison(event.record, exc, result)
                return None
        except Exception as exc:
            self._poison(event.record, exc, result)
            return None
        try:
            return call_with_retry(
                call,
                replace(policy, attempts=policy.attempts - 1),
                operation=f"{self.pipeline.name}.handler",
            )
        except Exception as exc:
            self._poison(event.record, exc, result)
            return None

    def _poison(self, record: Record, exc: Exception, result: BatchResult) -> None:
        if not self.pipeline.dead_letters:
            raise exc
        log.warning(
            "dead letter",
            pipeline=self.pipeline.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_type=type(exc).__name__,
        )
        result.letters.append((record, dead_letter(record, exc, self.pipeline.name)))

    def _write_sinks(self, effects: list[Effect], result: BatchResult, writes: WriteSet) -> None:
        by_sink: dict[str, list[Effect]] = defaultdict(list)
        for effect in effects:
            by_sink[effect.output.sink].append(effect)
        for name, sink_effects in by_sink.items():
            sink = self.sinks.get(name)
            if sink is None:
                raise ValidationError(
                    f"pipeline {self.pipeline.name!r} has no sink {name!r}",
                    hint=f"add it to sinks= (has: {', '.join(sorted(self.sinks)) or 'none'})",
                )
            result.written[name] = self._write_one(name, sink, sink_effects, result, writes)

    def _write_one(
        self, name: str, sink: Sink, effects: list[Effect], result: BatchResult, writes: WriteSet
    ) -> int:
        write = _writer(sink, writes)
        try:
            return self._retry(lambda: write(effects), f"sink.{name}")
        except TransientError:
            raise  # the sink is down: stop without committing, the batch comes again
        except Exception as exc:
            # Some record's outputs are poison: write record by record, dead-letter failures.
            log.warning("sink refused a batch", sink=name, error=str(exc))
        written = 0
        by_record: dict[tuple[str, int, int], list[Effect]] = defaultdict(list)
        for effect in effects:
            r = effect.record
            by_record[(r.topic, r.partition, r.offset)].append(effect)
        for own in by_record.values():
            record = own[0].record
            try:
                written += self._retry(partial(write, own), f"sink.{name}")
            except TransientError:
                raise
            except Exception as exc:
                self._poison(record, exc, result)
        return written

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retry(
            fn, self.pipeline.sink_retry, operation=f"{self.pipeline.name}.{what}"
        )


def _writer(sink: Sink, writes: WriteSet) -> Callable[[Sequence[Effect]], int]:
    if isinstance(sink, StagingSink):
        return partial(sink.stage, writes=writes)
    return sink.write


def _effects(record: Record, outputs: Iterable[Output]) -> list[Effect]:
    return [Effect(record, i, output) for i, output in enumerate(outputs)]


def _pure_call(handler: Any, event: Event) -> list[Output]:
    return list(handler(event))


def _stateful_call(handler: Any, state: Any, event: Event) -> tuple[Any, list[Output]]:
    outcome = handler(state, event)
    if not (isinstance(outcome, tuple) and len(outcome) == 2):
        raise ValidationError("a stateful handler must return (new_state, outputs)")
    new_state, outputs = outcome
    return new_state, list(outputs)

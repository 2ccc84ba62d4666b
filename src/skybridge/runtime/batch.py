"""One batch of a pipeline: decode, handle, window, write sinks, flush kv documents.

Order matters for exactly-once effects:

1. handlers run (state read from the worker's cache, see :mod:`.state`) and windows fold
   every record that was not dead-lettered;
2. sinks that write elsewhere (stream, SQL, notify) are written;
3. the batch's dead letters are produced (before the flush: a record skipped on redelivery
   because its key's state moved past it must already be on the dead-letter topic);
4. every kv document of the batch — kv sink documents, then window state, then handler
   state — is flushed by one :meth:`~.writes.WriteSet.flush`: one ``write_batch`` per kv
   store, a single transaction on stores with ``atomic_batch``;
5. the runner commits offsets.

If the process dies anywhere in between, the batch is delivered again and:

* a record whose change is already in its key's state (state guard >= its offset) is skipped
  entirely: its effects were flushed with (or, on other stores, before) that state;
* a record at or below its partition's window offset is not folded into windows again;
* otherwise it is handled again (handlers are deterministic functions of state and record) and
  the guarded kv sinks skip the effects they already applied (a crash between the dead-letter
  produce and the flush only duplicates a letter).

A dead-lettered record leaves no kv, state or window effect: when a sink refuses a record's
outputs, the batch is redone (caches dropped) without that record. If a flush finds a document
changed by another writer (a rebalance race, or keys shared across partitions), caches are
dropped and the batch is processed again from the store; records dead-lettered by an earlier
attempt of the batch are left out of later ones (and not dead-lettered twice).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, TypeVar

from skybridge.backends.streams.records import Message, Record, TopicPartition
from skybridge.core.errors import ConfigError, Conflict, TransientError, ValidationError
from skybridge.core.observability import error_summary, get_logger
from skybridge.core.retry import call_with_retry
from skybridge.runtime.deadletter import dead_letter
from skybridge.runtime.outputs import Effect, Event, Output
from skybridge.runtime.pipeline import Pipeline, record_key
from skybridge.runtime.sinks import Sink, StagingSink
from skybridge.runtime.state import Guarded, GuardedStore
from skybridge.runtime.window_ops import PartitionWindows, WindowOperator
from skybridge.runtime.windows import Emitted
from skybridge.runtime.writes import StaleDocuments, WriteSet

T = TypeVar("T")
log = get_logger(__name__)
#: Times a batch is redone after its flush met documents changed by another writer.
_STALE_ATTEMPTS = 5
#: A batch's effects by sink name, each sink's in record order.
BySink = dict[str, list[Effect]]
#: A record's place in its log: (topic, partition, offset).
RecordId = tuple[str, int, int]
#: Produces dead letters (record, letter) to the dead-letter topics.
LetterOut = Callable[[list[tuple[Record, Message]]], None]
#: Effect indexes from here on are window results, not handler outputs.
_WINDOW_INDEX = 1_000_000


@dataclass
class BatchResult:
    """What a batch produced: effects applied per sink, its dead letters (one per record).

    ``excluded`` are the records a later attempt of the batch leaves out (dead-lettered by
    decode, handler or a sink refusing their outputs); ``letters[:produced]`` were produced.
    """

    written: dict[str, int] = field(default_factory=dict)
    letters: list[tuple[Record, Message]] = field(default_factory=list)
    skipped: int = 0
    excluded: set[RecordId] = field(default_factory=set, repr=False)
    produced: int = 0
    lettered: set[RecordId] = field(default_factory=set, repr=False)


class _Refused(Exception):
    """A sink refused some records' handler outputs: redo the batch without them."""


class BatchProcessor:
    """Runs batches for one pipeline (state store and sinks already connected)."""

    def __init__(
        self,
        pipeline: Pipeline,
        state: GuardedStore | None,
        windows: WindowOperator | None = None,
        letters_out: LetterOut | None = None,
    ) -> None:
        """``letters_out`` produces dead letters before the flush (without it they are only
        returned in :attr:`BatchResult.letters`)."""
        self.pipeline = pipeline
        self.letters_out = letters_out
        self.state = state
        self.windows = windows
        self.sinks: dict[str, Sink] = dict(pipeline.sinks)
        self._decode = pipeline.decode

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
        """Handle, write and flush ``records``; redo the batch after a refused record or a
        stale flush (see the module docstring)."""
        result = BatchResult()
        stale = 0
        while True:
            result.written, result.skipped = {}, 0
            try:
                self._process(records, result)
                return result
            except _Refused:
                self.invalidate()  # the attempt folded and cached what the redo leaves out
                log.info("batch redone without refused records", pipeline=self.pipeline.name)
            except StaleDocuments as exc:
                self.invalidate()
                stale += 1
                if stale == _STALE_ATTEMPTS:
                    raise Conflict(f"kv documents kept changing under the pipeline: {exc}") from exc
                log.info("batch redone: documents changed", pipeline=self.pipeline.name)
            except BaseException:
                if self.windows is not None:
                    self.windows.invalidate()  # they folded records that were not flushed
                raise

    def _process(self, records: Sequence[Record], result: BatchResult) -> None:
        """One attempt at the batch; ``result`` carries dead letters across attempts."""
        excluded = result.excluded
        if excluded:  # dead-lettered by an earlier attempt: neither handled nor folded
            records = [r for r in records if (r.topic, r.partition, r.offset) not in excluded]
        events = self._events(records, result)
        writes = WriteSet()
        state_docs: dict[str, Guarded] = {}
        by_sink: BySink = {}
        if self.pipeline.stateful is not None:
            state_docs = self._stateful(events, result, by_sink)
        elif self.pipeline.handler is not None:
            self._pure(events, result, by_sink)
        if self.windows is not None:
            if excluded:
                events = [e for e in events if _record_id(e.record) not in excluded]
            _group(by_sink, self._window(events, self.windows))
        self._write_sinks(by_sink, result, writes)
        if self.windows is not None:
            self.windows.stage(writes)
        if self.state is not None:
            for key, doc in state_docs.items():
                writes.stage(self.state, key, doc)
        self._produce_letters(result)
        self._flush(writes)

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
            self._write_sinks(_group({}, effects), result, writes)
            self.windows.stage(writes)
            self._produce_letters(result)
            self._flush(writes)
        except BaseException:
            self.invalidate()  # the aggregations moved on; rebuild them from the store
            raise
        return result

    def _flush(self, writes: WriteSet) -> None:
        self._retry(writes.flush, "flush")

    def _produce_letters(self, result: BatchResult) -> None:
        """Produce the letters not produced by an earlier attempt (before the flush)."""
        new = result.letters[result.produced :]
        if new and self.letters_out is not None:
            self.letters_out(new)
        result.produced = len(result.letters)

    def _events(self, records: Sequence[Record], result: BatchResult) -> list[Event]:
        """Decode and key every record; records that do not decode are dead-lettered."""
        decode, key_of = self._decode, self.pipeline.key
        events: list[Event] = []
        append = events.append
        for record in records:
            try:
                value = decode(record.value)
                if key_of is record_key:  # inlined: one call less per record
                    raw = record.key
                    key = "" if raw is None else raw.decode("utf-8", errors="replace")
                else:
                    key = key_of(record, value)
            except Exception as exc:
                self._poison(record, exc, result)
                continue
            append(Event(record, key, value))
        return events

    def _pure(self, events: list[Event], result: BatchResult, by_sink: BySink) -> None:
        handler = self.pipeline.handler
        assert handler is not None
        for event in events:
            outputs = self._handle(handler, event, result)
            if outputs:
                _add_effects(by_sink, event.record, outputs)

    def _stateful(
        self, events: list[Event], result: BatchResult, by_sink: BySink
    ) -> dict[str, Guarded]:
        """Run the handler per event; the changed state documents (effects into ``by_sink``)."""
        handler = self.pipeline.stateful
        store = self.state
        assert handler is not None
        assert store is not None
        keys = list(dict.fromkeys([e.key for e in events]))
        docs = self._retry(lambda: store.load_cached(keys), "state")
        current = {key: doc.value for key, doc in docs.items()}
        # source -> key -> offset of the key's last record handled (records of a partition
        # come in offset order, so that is the key's new guard for the source).
        handled: dict[str, dict[str, int]] = {}
        topic, partition, source, handled_here = "", -1, "", {}
        new_effect = tuple.__new__
        for event in events:
            record, key, _value = event
            if record.partition != partition or record.topic != topic:
                topic, partition = record.topic, record.partition
                source = f"{topic}/{partition}"
                handled_here = handled.setdefault(source, {})
            offset = record.offset
            if offset <= docs[key].guard.get(source, -1):
                result.skipped += 1  # already in state, so its effects were written
                continue
            # One handler call, inlined (the hot path): a failure goes to _recover, which
            # retries with the attempts the policy has left or dead-letters the record.
            state = current[key]
            try:
                outcome = handler(state, event)
                if type(outcome) is not tuple or len(outcome) != 2 or type(outcome[1]) is not list:
                    outcome = _checked(outcome)
            except Exception as exc:
                call = partial(_stateful_call, handler, state, event)
                recovered = self._recover(call, exc, event, result)
                if recovered is None:
                    continue
                outcome = recovered
            current[key], outputs = outcome
            handled_here[key] = offset
            for index, output in enumerate(outputs):  # inlined _add_effects
                effect = new_effect(Effect, (record, index, output))
                group = by_sink.get(output.sink)
                if group is None:
                    by_sink[output.sink] = [effect]
                else:
                    group.append(effect)
        changed: dict[str, Guarded] = {}
        for source, offsets in handled.items():
            for key, offset in offsets.items():
                doc = changed.get(key)
                if doc is None:
                    doc = changed[key] = Guarded(
                        current[key], dict(docs[key].guard), docs[key].version
                    )
                doc.guard[source] = offset
        return changed

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
        return [Effect(record, _WINDOW_INDEX + i, out) for i, out in enumerate(outputs)]

    def _handle(self, handler: Any, event: Event, result: BatchResult) -> list[Output] | None:
        """One pure handler call: its outputs, or ``None`` when the record was dead-lettered.

        The first attempt runs bare (the hot path); only a failure pays for the retry
        machinery, with the attempts the policy has left.
        """
        try:
            outputs = handler(event)
            return outputs if type(outputs) is list else list(outputs)
        except Exception as exc:
            return self._recover(partial(_pure_call, handler, event), exc, event, result)

    def _recover(
        self, call: Callable[[], T], exc: Exception, event: Event, result: BatchResult
    ) -> T | None:
        """After the handler's first attempt raised ``exc``: retry a transient failure with
        the attempts the policy has left; dead-letter the record if it still fails."""
        policy = self.pipeline.retry
        if not isinstance(exc, TransientError) or policy.attempts <= 1:
            self._poison(event.record, exc, result)
            return None
        try:
            return call_with_retry(
                call,
                replace(policy, attempts=policy.attempts - 1),
                operation=f"{self.pipeline.name}.handler",
            )
        except Exception as again:
            self._poison(event.record, again, result)
            return None

    def _poison(
        self, record: Record, exc: Exception, result: BatchResult, *, exclude: bool = True
    ) -> None:
        """Dead-letter ``record`` (once per batch); ``exclude``: later attempts of the batch
        leave it out."""
        if not self.pipeline.dead_letters:
            raise exc
        rid = _record_id(record)
        if exclude:
            result.excluded.add(rid)
        if rid in result.lettered:
            return
        result.lettered.add(rid)
        log.warning(
            "dead letter",
            pipeline=self.pipeline.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error_type=type(exc).__name__,
        )
        result.letters.append((record, dead_letter(record, exc, self.pipeline.name)))

    def _write_sinks(self, by_sink: BySink, result: BatchResult, writes: WriteSet) -> None:
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
        except (TransientError, ConfigError):
            # The sink is down or set up wrong (a table without the columns it needs): stop
            # without committing, the batch comes again; no record is to blame.
            raise
        except Exception as exc:
            # Some record's outputs are poison: write record by record, dead-letter failures.
            log.warning(
                "sink refused a batch",
                pipeline=self.pipeline.name,
                sink=name,
                error=error_summary(exc),
            )
        # A record's handler outputs and the window results it closed are tried apart: a
        # refused window result is dead-lettered with the record that closed the window (the
        # record keeps its own effects; leaving it out would move the result to the next one).
        written, refused = 0, False
        by_record: dict[tuple[str, int, int, bool], list[Effect]] = defaultdict(list)
        for effect in effects:
            r, windowed = effect.record, effect.index >= _WINDOW_INDEX
            by_record[(r.topic, r.partition, r.offset, windowed)].append(effect)
        for (*_, windowed), own in by_record.items():
            try:
                written += self._retry(partial(write, own), f"sink.{name}")
            except (TransientError, ConfigError):
                raise
            except Exception as exc:
                self._poison(own[0].record, exc, result, exclude=not windowed)
                refused = refused or not windowed
        if refused:
            raise _Refused  # the refused records' state, kv and window effects must go
        return written

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retry(
            fn, self.pipeline.sink_retry, operation=f"{self.pipeline.name}.{what}"
        )


def _record_id(record: Record) -> RecordId:
    return (record.topic, record.partition, record.offset)


def _writer(sink: Sink, writes: WriteSet) -> Callable[[Sequence[Effect]], int]:
    if isinstance(sink, StagingSink):
        return partial(sink.stage, writes=writes)
    return sink.write


def _add_effects(by_sink: BySink, record: Record, outputs: Iterable[Output]) -> None:
    for index, output in enumerate(outputs):
        effect = Effect(record, index, output)
        group = by_sink.get(output.sink)
        if group is None:
            by_sink[output.sink] = [effect]
        else:
            group.append(effect)


def _group(by_sink: BySink, effects: Iterable[Effect]) -> BySink:
    """Add ``effects`` to ``by_sink`` (after the effects already there); ``by_sink``."""
    for effect in effects:
        by_sink.setdefault(effect.output.sink, []).append(effect)
    return by_sink


_SHAPE = "a stateful handler must return (new_state, outputs)"


def _pure_call(handler: Any, event: Event) -> list[Output]:
    return list(handler(event))


def _stateful_call(handler: Any, state: Any, event: Event) -> tuple[Any, list[Output]]:
    return _checked(handler(state, event))


def _checked(outcome: Any) -> tuple[Any, list[Output]]:
    """A stateful handler's ``(new_state, outputs)``, outputs as a list."""
    if not (isinstance(outcome, tuple) and len(outcome) == 2):
        raise ValidationError(_SHAPE)
    new_state, outputs = outcome
    return new_state, outputs if type(outputs) is list else list(outputs)

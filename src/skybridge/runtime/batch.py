"""One batch of a pipeline: decode, handle, write sinks, save state, dead-letter poison.

Order matters for exactly-once effects. Sinks are written first, then state, then dead letters;
only after all three does the runner commit offsets. If the process dies anywhere in between,
the batch is delivered again and:

* a record whose change is already in its key's state (state guard >= its offset) is skipped
  entirely: its sink effects were written before the state was saved;
* otherwise it is handled again (handlers are deterministic functions of state and record) and
  the guarded sinks skip the effects they already applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from skybridge.backends.streams.records import Message, Record
from skybridge.core.errors import TransientError, ValidationError
from skybridge.core.observability import get_logger
from skybridge.core.retry import call_with_retry
from skybridge.runtime.deadletter import dead_letter
from skybridge.runtime.outputs import Effect, Event, Output, source_id
from skybridge.runtime.pipeline import Pipeline
from skybridge.runtime.sinks import Sink
from skybridge.runtime.state import Change, Guarded, GuardedStore

T = TypeVar("T")
log = get_logger(__name__)


@dataclass
class BatchResult:
    """What a batch produced: effects applied per sink, dead letters to produce."""

    written: dict[str, int] = field(default_factory=dict)
    letters: list[tuple[Record, Message]] = field(default_factory=list)
    skipped: int = 0


class BatchProcessor:
    """Runs batches for one pipeline (state store and sinks already connected)."""

    def __init__(self, pipeline: Pipeline, state: GuardedStore | None) -> None:
        self.pipeline = pipeline
        self.state = state
        self.sinks: dict[str, Sink] = dict(pipeline.sinks)

    def process(self, records: Sequence[Record]) -> BatchResult:
        result = BatchResult()
        events = [e for r in records if (e := self._event(r, result)) is not None]
        if self.state is not None:
            effects, changes, docs = self._stateful(events, result)
        else:
            effects, changes, docs = self._pure(events, result), {}, {}
        self._write_sinks(effects, result)
        for key, key_changes in changes.items():
            self._save_state(key, key_changes, docs.get(key))
        return result

    def _save_state(self, key: str, changes: list[Change], doc: Guarded | None) -> None:
        store = self.state
        assert store is not None

        def save() -> bool:
            return store.apply(key, changes, doc)

        self._retry(save, "state")

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
            if outputs is not None:
                effects.extend(_effects(event.record, outputs))
        return effects

    def _stateful(
        self, events: list[Event], result: BatchResult
    ) -> tuple[list[Effect], dict[str, list[Change]], dict[str, Guarded]]:
        handler = self.pipeline.stateful
        store = self.state
        assert handler is not None
        assert store is not None

        def load() -> dict[str, Guarded]:
            return store.load(e.key for e in events)

        docs = self._retry(load, "state")
        current = {key: doc.value for key, doc in docs.items()}
        changes: dict[str, list[Change]] = defaultdict(list)
        effects: list[Effect] = []
        for event in events:
            source, offset = source_id(event.record), event.record.offset
            if docs[event.key].applied(source, offset):
                result.skipped += 1  # already in state, so its effects were written
                continue
            before = current[event.key]
            call = partial(_stateful_call, handler, before, event)
            handled = self._handle(call, event, result)
            if handled is None:
                continue
            current[event.key], outputs = handled
            changes[event.key].append(Change(source, offset, _constant(current[event.key])))
            effects.extend(_effects(event.record, outputs))
        return effects, changes, docs

    def _handle(self, call: Callable[[], T], event: Event, result: BatchResult) -> T | None:
        try:
            return call_with_retry(
                call, self.pipeline.retry, operation=f"{self.pipeline.name}.handler"
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

    def _write_sinks(self, effects: list[Effect], result: BatchResult) -> None:
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
            result.written[name] = self._write_one(name, sink, sink_effects, result)

    def _write_one(self, name: str, sink: Sink, effects: list[Effect], result: BatchResult) -> int:
        try:
            return self._retry(lambda: sink.write(effects), f"sink.{name}")
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
                written += self._retry(partial(sink.write, own), f"sink.{name}")
            except TransientError:
                raise
            except Exception as exc:
                self._poison(record, exc, result)
        return written

    def _retry(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retry(
            fn, self.pipeline.sink_retry, operation=f"{self.pipeline.name}.{what}"
        )


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


def _constant(value: Any) -> Callable[[Any], Any]:
    return lambda _current: value

"""A pipeline declaration: source topics and group, key, handler, state store and sinks.

Example::

    def count(state, event):
        n = (state or 0) + 1
        return n, [Put(f"count/{event.key}", n)]

    clicks = Pipeline(
        "click-counts",
        source="sqlite:///.skybridge/streams.db",
        topics=["clicks"],
        stateful=count,
        state="sqlite:///.skybridge/kv.db",
        sinks={"kv": KVSink(kv.connect("sqlite:///.skybridge/kv.db"))},
    )
    clicks.run()  # until SIGTERM / stop()

Delivery is at-least-once; a batch's effects are applied (idempotently, see :mod:`.sinks`)
and its state saved before its offsets are committed, so kv sinks and state see each event's
effect exactly once. Details of one batch are in :mod:`.batch`, the loop in :mod:`.runner`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skybridge.backends.kv.base import KeyValueStore
from skybridge.backends.streams.base import StartPosition, StreamBackend
from skybridge.backends.streams.records import Record
from skybridge.core import jsoncodec
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError
from skybridge.core.retry import RetryPolicy
from skybridge.core.urls import mask_url
from skybridge.runtime.outputs import Event, Output, Put
from skybridge.runtime.sinks import Sink
from skybridge.runtime.windows import Aggregator, LateEvent, LatePolicy, WindowResult, WindowSpec

if TYPE_CHECKING:
    from skybridge.runtime.runner import RunStats

#: A pure handler: one event in, outputs out.
Handler = Callable[[Event], Iterable[Output]]
#: A stateful handler: (state of the event's key or None, event) -> (new state, outputs).
StatefulHandler = Callable[[Any, Event], tuple[Any, Iterable[Output]]]
#: Extracts the state key from a record and its decoded value.
KeyFn = Callable[[Record, Any], str]
#: Turns a window's result into outputs.
WindowOutputs = Callable[[WindowResult[Any]], Iterable[Output]]
#: Turns a late event (``side`` policy) into outputs.
LateOutputs = Callable[[LateEvent[Any]], Iterable[Output]]


def event_time(event: Event) -> float:
    """The default event time: the record timestamp."""
    return event.timestamp


def event_value(event: Event) -> Any:
    """The default value folded into windows: the decoded record value."""
    return event.value


def record_key(record: Record, _value: Any) -> str:
    """The default key: the record key as UTF-8 text ("" when the record has none)."""
    return record.key.decode("utf-8", errors="replace") if record.key is not None else ""


@dataclass
class Pipeline:
    """What a stream pipeline consumes, computes and writes.

    Args:
        name: Unique name (metrics label, default group, state key prefix).
        source: Stream backend URL or object.
        topics: Topics to consume.
        handler: Pure handler (give this or ``stateful``).
        stateful: Stateful handler; needs ``state``.
        state: kv store (URL or object) holding per-key handler state (JSON documents).
        sinks: Sinks by name; outputs address them by their ``sink`` field.
        group: Consumer group (default ``name``).
        key: State key extractor (default the record key).
        decode: Turns record values into what handlers see (default JSON via orjson, which
            reads integers beyond 64 bits as floats; ``json.loads`` keeps them exact).
        retry: Retry policy for handler calls (transient errors only).
        sink_retry: Retry policy for sink, state and commit calls, and for polls.
        batch_size: Most records per batch. Batches adapt to the backlog (see
            :func:`~skybridge.runtime.runner.gather`): a quiet stream gets small ones at
            once, a backlog full ones.
        batch_wait: Most seconds a batch keeps taking records that are already waiting
            after its first ones arrived (it never waits for records to fill it).
        poll_timeout: Seconds a poll waits for records (also the stop latency).
        start: Where a new group starts: ``earliest`` or ``latest``.
        dead_letters: Send poison records to ``<topic>.dlq`` (else the pipeline stops).
        window: ``tumbling(..)``, ``sliding(..)`` or ``session(..)``: aggregate events per key
            and event-time window (needs ``aggregate`` and ``state``; see :mod:`.window_ops`).
        aggregate: How window values fold (``counter()``, ``summing(..)``, an ``Aggregator``).
        on_window: Outputs for a window result (default: ``Put("<name>/<key>/<start>",
            {"start", "end", "value", "update"})`` to the ``kv`` sink).
        on_late: Outputs for a late event under ``late_policy="side"``.
        grace: Seconds a window stays open after the watermark passes its end.
        lateness: Bounded out-of-orderness of the watermark, in seconds.
        late_policy: ``drop``, ``side`` or ``update``.
        idle_timeout: Seconds without records after which a partition's watermark follows the
            clock, so windows close on idle streams (checked by the poll loop).
        timestamp: Event time of an event (default the record timestamp).
        window_value: What is folded into windows (default the decoded value).
        clock: Processing-time clock of watermarks and idle closing.
    """

    name: str
    source: str | StreamBackend
    topics: Sequence[str]
    handler: Handler | None = None
    stateful: StatefulHandler | None = None
    state: str | KeyValueStore | None = None
    sinks: Mapping[str, Sink] = field(default_factory=dict)
    group: str | None = None
    key: KeyFn = record_key
    decode: Callable[[bytes], Any] = jsoncodec.loads
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(attempts=3, base_delay=0.05, max_delay=1.0, deadline=10)
    )
    sink_retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(attempts=8, base_delay=0.1, max_delay=5.0, deadline=60)
    )
    batch_size: int = 10_000
    batch_wait: float = 0.1
    poll_timeout: float = 0.5
    start: StartPosition = "earliest"
    dead_letters: bool = True
    window: WindowSpec | None = None
    aggregate: Aggregator[Any, Any, Any] | None = None
    on_window: WindowOutputs | None = None
    on_late: LateOutputs | None = None
    grace: float = 0.0
    lateness: float = 0.0
    late_policy: LatePolicy | str = LatePolicy.DROP
    idle_timeout: float | None = None
    timestamp: Callable[[Event], float] = event_time
    window_value: Callable[[Event], Any] = event_value
    clock: Clock = SYSTEM_CLOCK
    _stop: threading.Event = field(init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        # Not the dataclass repr: a source URL may carry a password (kafka://user:pw@...).
        source = mask_url(self.source) if isinstance(self.source, str) else self.source
        state = mask_url(self.state) if isinstance(self.state, str) else self.state
        return (
            f"Pipeline(name={self.name!r}, source={source!r}, topics={list(self.topics)!r}, "
            f"group={self.group!r}, state={state!r}, sinks={sorted(self.sinks)!r})"
        )

    def __post_init__(self) -> None:
        # Set by stop(); the runner polls only while it is clear, so a stop requested before
        # (or while) run() connects its backends is honoured.
        self._stop = threading.Event()
        if self.handler is not None and self.stateful is not None:
            raise ConfigError(f"pipeline {self.name!r} needs exactly one of handler= or stateful=")
        if self.handler is None and self.stateful is None and self.window is None:
            raise ConfigError(
                f"pipeline {self.name!r} needs exactly one of handler= or stateful= "
                "(or a window= with aggregate=)"
            )
        if self.stateful is not None and self.state is None:
            raise ConfigError(f"pipeline {self.name!r} has a stateful handler but no state= store")
        if self.window is not None:
            self._check_window()
        if not self.topics:
            raise ConfigError(f"pipeline {self.name!r} has no topics")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.batch_wait < 0:
            raise ConfigError("batch_wait must be >= 0 seconds")

    def _check_window(self) -> None:
        if self.aggregate is None:
            raise ConfigError(f"pipeline {self.name!r} has window= but no aggregate=")
        if self.state is None:
            raise ConfigError(
                f"pipeline {self.name!r} has window= but no state= store for window state"
            )
        try:
            policy = LatePolicy(self.late_policy)
        except ValueError:
            raise ConfigError(
                f"unknown late policy {self.late_policy!r}", hint="use drop, side or update"
            ) from None
        if policy is LatePolicy.SIDE and self.on_late is None:
            raise ConfigError(
                f"pipeline {self.name!r} has late_policy='side' but no on_late= for late events"
            )

    def window_outputs(self, result: WindowResult[Any]) -> Iterable[Output]:
        """The outputs of a window result (``on_window``, or the default kv ``Put``)."""
        if self.on_window is not None:
            return self.on_window(result)
        doc = {
            "start": result.window.start,
            "end": result.window.end,
            "value": result.value,
            "update": result.update,
        }
        return [Put(f"{self.name}/{result.key}/{result.window.start!r}", doc)]

    @property
    def group_id(self) -> str:
        return self.group or self.name

    def run(self, *, idle_exit: float | None = None, max_batches: int | None = None) -> RunStats:
        """Consume until :meth:`stop` (or a signal handler of the worker) or, with
        ``idle_exit``, until no record arrived for that many seconds."""
        from skybridge.runtime.runner import PipelineRunner

        try:
            runner = PipelineRunner(self, stop=self._stop)
            return runner.run(idle_exit=idle_exit, max_batches=max_batches)
        finally:
            self._stop.clear()  # the stop was for this run; a later run() starts afresh

    def stop(self) -> None:
        """Ask a running pipeline to finish its batch, commit and return (also when asked
        before :meth:`run` or while it connects its backends: the run then never polls)."""
        self._stop.set()

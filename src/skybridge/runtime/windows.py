"""Event-time windows: tumbling, sliding and session windows with grace, late policies, idle close.

:class:`WindowedAggregation` folds keyed, timestamped events into per-window aggregates and
emits each window's final result once the watermark (see :mod:`.watermarks`) passes it:

* **Tumbling / sliding** windows are half-open ``[start, end)``, aligned to ``offset``
  (default 0, so boundaries are the same on every worker and across restarts). A window
  *closes* when ``watermark >= end + grace``. An event is *late* for a window that has closed.
* **Session** windows: an event at ``t`` spans ``[t, t + gap]``; sessions of one key whose
  spans overlap (inclusive) merge, so consecutive events closer than or equal to ``gap`` share a
  session and different sessions are more than ``gap`` apart. A session ``[first, last + gap]``
  closes when ``watermark > end + grace``; an event is late when ``t + grace < watermark``.
  This event-based rule guarantees a non-late event can never belong to a session that was
  already emitted (it would need ``t <= end < watermark - grace``).
* Lateness is judged against the watermark *before* the event itself is observed.
* **Late policies**: ``drop`` (counted in :attr:`WindowedAggregation.dropped`), ``side``
  (returned in :attr:`Emitted.late`, one entry per event and closed window) or ``update``:
  closed windows are kept until ``watermark >= end + grace + update_retention``; a late event
  for a window in that horizon is added (creating the window if it had no event yet) and the
  window's result re-emitted with ``update=True``; later still it is dropped and counted. For
  sessions, a late event merges with the kept sessions it touches; if the merged session is
  still closed it is re-emitted at once, otherwise it is emitted when it closes.
* **Idle close**: :meth:`WindowedAggregation.advance` re-reads the watermark, which moves with
  processing time for partitions silent for ``idle_timeout`` (exact rule in :mod:`.watermarks`),
  and emits windows that closed. Call it periodically; nothing waits for a next event.

Everything is driven by the injected clock, so runs are deterministic under ``ManualClock``.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError
from skybridge.runtime.watermarks import WatermarkTracker
from skybridge.runtime.window_state import MemoryWindowStore, StoredWindow, WindowStore

V = TypeVar("V")
A = TypeVar("A")
R = TypeVar("R")


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """A window's bounds in event time (seconds)."""

    start: float
    end: float


def _positive(name: str, value: float) -> float:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"window {name} must be a positive number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Sliding:
    """Windows of ``size`` seconds starting every ``slide`` seconds (``0 < slide <= size``)."""

    size: float
    slide: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        _positive("size", self.size)
        _positive("slide", self.slide)
        if self.slide > self.size:
            raise ConfigError(
                f"window slide {self.slide} is larger than size {self.size}",
                hint="use slide <= size (events between windows would belong to none)",
            )

    def assign(self, t: float) -> list[Window]:
        """Every window containing ``t``, oldest first."""
        last = self.offset + math.floor((t - self.offset) / self.slide) * self.slide
        # Float division can land one slide off; fix so that last <= t < last + slide.
        if last > t:
            last -= self.slide
        elif last + self.slide <= t:
            last += self.slide
        found: list[Window] = []
        k = 0
        while (start := last - k * self.slide) + self.size > t:
            found.append(Window(start, start + self.size))
            k += 1
        found.reverse()
        return found


def tumbling(size: float, *, offset: float = 0.0) -> Sliding:
    """Back-to-back windows of ``size`` seconds: each event falls in exactly one."""
    return Sliding(size, size, offset)


def sliding(size: float, slide: float, *, offset: float = 0.0) -> Sliding:
    """Overlapping windows of ``size`` seconds, one starting every ``slide`` seconds."""
    return Sliding(size, slide, offset)


@dataclass(frozen=True, slots=True)
class Session:
    """Per-key activity sessions separated by more than ``gap`` seconds of event time."""

    gap: float

    def __post_init__(self) -> None:
        _positive("gap", self.gap)


def session(gap: float) -> Session:
    """Session windows with inactivity gap ``gap`` seconds."""
    return Session(gap)


WindowSpec = Sliding | Session


@dataclass(frozen=True, slots=True)
class Aggregator(Generic[V, A, R]):
    """How to fold events into a window: ``init() -> acc``, ``add(acc, value) -> acc``,
    ``result(acc) -> R`` and, for session windows, ``merge(earlier, later) -> acc``."""

    init: Callable[[], A]
    add: Callable[[A, V], A]
    result: Callable[[A], R]
    merge: Callable[[A, A], A] | None = None


def counter() -> Aggregator[Any, int, int]:
    """Counts events."""
    return Aggregator(lambda: 0, lambda acc, _v: acc + 1, lambda acc: acc, lambda a, b: a + b)


def summing(value: Callable[[V], float]) -> Aggregator[V, float, float]:
    """Sums ``value(event)``."""
    return Aggregator(
        lambda: 0.0, lambda acc, v: acc + value(v), lambda acc: acc, lambda a, b: a + b
    )


def collecting() -> Aggregator[V, list[V], list[V]]:
    """Collects event values in arrival order (session merges concatenate)."""
    return Aggregator(list, lambda acc, v: [*acc, v], list, lambda a, b: a + b)


class LatePolicy(enum.StrEnum):
    DROP = "drop"
    SIDE = "side"
    UPDATE = "update"


@dataclass(frozen=True, slots=True)
class WindowResult(Generic[R]):
    """A window's aggregate; ``update`` marks a re-emission after a late event."""

    key: str
    window: Window
    value: R
    update: bool = False


@dataclass(frozen=True, slots=True)
class LateEvent(Generic[V]):
    """An event that arrived after ``window`` had closed (``side`` policy)."""

    key: str
    event_time: float
    value: V
    window: Window


@dataclass(slots=True)
class Emitted(Generic[V, R]):
    """What one call produced: window results, and late events under the ``side`` policy."""

    results: list[WindowResult[R]] = field(default_factory=list)
    late: list[LateEvent[V]] = field(default_factory=list)

    def extend(self, other: Emitted[V, R]) -> None:
        self.results.extend(other.results)
        self.late.extend(other.late)


_CLOSE, _PURGE = 0, 1


class WindowedAggregation(Generic[V, A, R]):
    """Keyed event-time window aggregation with watermarks, grace, late policy and idle close.

    Args:
        windows: ``tumbling(...)``, ``sliding(...)`` or ``session(...)``.
        aggregator: how to fold values (sessions need ``merge``).
        grace: seconds a window stays open after the watermark reaches its end.
        lateness: bounded out-of-orderness used for the watermark.
        late_policy: ``drop``, ``side`` or ``update``.
        idle_timeout: processing-time silence after which a partition's watermark follows the
            clock; ``None``: windows close only as events arrive.
        update_retention: under ``update``, event-time seconds closed windows are kept.
        store: window state store (default in memory); state found in it is recovered.
        clock: processing time.
    """

    def __init__(
        self,
        windows: WindowSpec,
        aggregator: Aggregator[V, A, R],
        *,
        grace: float = 0.0,
        lateness: float = 0.0,
        late_policy: LatePolicy | str = LatePolicy.DROP,
        idle_timeout: float | None = None,
        update_retention: float = 3600.0,
        store: WindowStore | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if isinstance(windows, Session) and aggregator.merge is None:
            raise ConfigError("session windows need an aggregator with merge()")
        if not grace >= 0 or not update_retention >= 0:
            raise ConfigError("grace and update_retention must be >= 0 seconds")
        try:
            self.late_policy = LatePolicy(late_policy)
        except ValueError:
            raise ConfigError(
                f"unknown late policy {late_policy!r}", hint="use drop, side or update"
            ) from None
        self.windows = windows
        self.aggregator = aggregator
        self.grace = float(grace)
        self.retention = update_retention if self.late_policy is LatePolicy.UPDATE else None
        self.store: WindowStore = store if store is not None else MemoryWindowStore()
        self.watermarks = WatermarkTracker(
            lateness=lateness, idle_timeout=idle_timeout, clock=clock
        )
        #: Late events dropped (policy ``drop``, or ``update`` past retention).
        self.dropped = 0
        self._index: dict[str, dict[float, StoredWindow]] = {}
        self._heap: list[tuple[float, int, str, float]] = []
        self._recover()

    @property
    def _sessions(self) -> bool:
        return isinstance(self.windows, Session)

    # -- public API -------------------------------------------------------------------------

    def process(
        self, key: str, event_time: float, value: V, *, partition: Hashable = 0
    ) -> Emitted[V, R]:
        """Add one event; return results of windows this event (via the watermark) closed."""
        out: Emitted[V, R] = Emitted()
        watermark = self.watermarks.current()
        # Windows the clock closed while the stream was idle are emitted before this event.
        self._close_due(watermark, out)
        if isinstance(self.windows, Session):
            self._add_to_session(key, event_time, value, watermark, out)
        else:
            for window in self.windows.assign(event_time):
                self._add_to_window(key, window, event_time, value, watermark, out)
        self.watermarks.observe(event_time, partition)
        self._close_due(self.watermarks.current(), out)
        return out

    def advance(self) -> Emitted[V, R]:
        """Close windows the watermark has passed by now (idle partitions follow the clock)."""
        out: Emitted[V, R] = Emitted()
        self._close_due(self.watermarks.current(), out)
        return out

    def flush(self) -> Emitted[V, R]:
        """End of input: emit every open window and forget all state."""
        out: Emitted[V, R] = Emitted()
        self._close_due(math.inf, out)
        return out

    @property
    def watermark(self) -> float:
        return self.watermarks.current()

    def open_windows(self) -> list[tuple[str, Window]]:
        """Open (not yet emitted) windows, sorted."""
        return sorted(
            (key, Window(w.start, w.end))
            for key, by_start in self._index.items()
            for w in by_start.values()
            if not w.closed
        )

    def checkpoint(self) -> None:
        """Save the watermark state in the store (window state is saved as it changes)."""
        self.store.save_meta("watermarks", self.watermarks.snapshot())

    # -- fixed windows ----------------------------------------------------------------------

    def _add_to_window(
        self, key: str, window: Window, t: float, value: V, watermark: float, out: Emitted[V, R]
    ) -> None:
        state = self._index.get(key, {}).get(window.start)
        if window.end + self.grace > watermark:
            if state is None:
                state = StoredWindow(key, window.start, window.end, self.aggregator.init())
                self._track(state)
            self._fold(state, value)
            return
        retained = (
            self.retention is not None and window.end + self.grace + self.retention > watermark
        )
        if state is None and retained:
            # A closed window that never had an event: it starts now, already closed.
            state = StoredWindow(key, window.start, window.end, self.aggregator.init(), closed=True)
            self._track(state)
        if state is not None and retained:
            self._fold(state, value)
            out.results.append(self._result(state, update=True))
            return
        self._reject(key, window, t, value, out)

    def _reject(self, key: str, window: Window, t: float, value: V, out: Emitted[V, R]) -> None:
        if self.late_policy is LatePolicy.SIDE:
            out.late.append(LateEvent(key, t, value, window))
        else:
            self.dropped += 1

    # -- sessions ---------------------------------------------------------------------------

    def _add_to_session(
        self, key: str, t: float, value: V, watermark: float, out: Emitted[V, R]
    ) -> None:
        assert isinstance(self.windows, Session)
        assert self.aggregator.merge is not None
        gap = self.windows.gap
        late = t + self.grace < watermark
        if late and self.late_policy is not LatePolicy.UPDATE:
            self._reject(key, Window(t, t + gap), t, value, out)
            return
        by_start = self._index.setdefault(key, {})
        touching = sorted(
            (w for w in by_start.values() if w.start <= t + gap and t <= w.end),
            key=lambda w: w.start,
        )
        merged = StoredWindow(key, t, t + gap, self.aggregator.add(self.aggregator.init(), value))
        for old in touching:
            first, second = (old, merged) if old.start <= merged.start else (merged, old)
            merged = StoredWindow(
                key,
                min(old.start, merged.start),
                max(old.end, merged.end),
                self.aggregator.merge(first.acc, second.acc),
            )
            del by_start[old.start]
            self.store.remove(key, old.start)
        merged.closed = merged.end + self.grace < watermark
        self._track(merged)
        self.store.save(merged)
        if merged.closed:
            out.results.append(self._result(merged, update=True))

    # -- closing ----------------------------------------------------------------------------

    def _close_at(self, state: StoredWindow) -> float:
        return state.end + self.grace

    def _purge_at(self, state: StoredWindow) -> float:
        return self._close_at(state) + (self.retention or 0.0)

    def _is_due(self, deadline: float, watermark: float) -> bool:
        return deadline < watermark if self._sessions else deadline <= watermark

    def _close_due(self, watermark: float, out: Emitted[V, R]) -> None:
        while self._heap and self._is_due(self._heap[0][0], watermark):
            deadline, kind, key, start = heapq.heappop(self._heap)
            state = self._index.get(key, {}).get(start)
            if state is None:
                continue  # merged into another session or already purged
            if kind == _CLOSE and not state.closed and deadline == self._close_at(state):
                out.results.append(self._result(state, update=False))
                self._after_close(state, watermark)
            elif kind == _PURGE and state.closed and deadline == self._purge_at(state):
                self._forget(state)

    def _after_close(self, state: StoredWindow, watermark: float) -> None:
        if self.retention is None or watermark == math.inf:
            self._forget(state)
            return
        state.closed = True
        self.store.save(state)
        heapq.heappush(self._heap, (self._purge_at(state), _PURGE, state.key, state.start))

    # -- state ------------------------------------------------------------------------------

    def _track(self, state: StoredWindow) -> None:
        self._index.setdefault(state.key, {})[state.start] = state
        kind = _PURGE if state.closed else _CLOSE
        deadline = self._purge_at(state) if state.closed else self._close_at(state)
        heapq.heappush(self._heap, (deadline, kind, state.key, state.start))

    def _fold(self, state: StoredWindow, value: V) -> None:
        state.acc = self.aggregator.add(state.acc, value)
        self.store.save(state)

    def _forget(self, state: StoredWindow) -> None:
        by_start = self._index.get(state.key, {})
        by_start.pop(state.start, None)
        if not by_start:
            self._index.pop(state.key, None)
        self.store.remove(state.key, state.start)

    def _result(self, state: StoredWindow, *, update: bool) -> WindowResult[R]:
        window = Window(state.start, state.end)
        return WindowResult(state.key, window, self.aggregator.result(state.acc), update)

    def _recover(self) -> None:
        snapshot = self.store.load_meta("watermarks")
        if isinstance(snapshot, dict):
            self.watermarks.restore(snapshot)
        for state in self.store.scan():
            self._track(state)

"""The service's metrics history: series derived from the Prometheus registry every few seconds,
kept in a ring buffer for a few hours, for the dashboard's charts.

:class:`HistorySampler` reads the registry every ``interval`` seconds (default 5) in a thread
the service starts with its lifespan, and appends one value per series (see
:mod:`skybridge.server.series`) to :class:`MetricsHistory`.

Memory is bounded: the history keeps ``capacity`` samples (default 2,160: three hours every
5 s) of at most ``max_series`` series (default 64), one slot (a float or None) per sample and
series, so at most ``capacity x (max_series + 1)`` slots: about 4.5 MB at the defaults, and
well under 1 MB for the dozen series a small deployment has. A series whose last value has left
the buffer is dropped; a new series beyond ``max_series`` is left out (and logged once).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice

from prometheus_client import CollectorRegistry

from skybridge.core.observability import get_logger
from skybridge.server.series import Snapshot, derive, read_snapshot

log = get_logger(__name__)
#: Seconds between samples.
INTERVAL = 5.0
#: Samples kept: three hours at :data:`INTERVAL`.
CAPACITY = 2160
#: Series kept at most.
MAX_SERIES = 64


def matches(key: str, selectors: Sequence[str]) -> bool:
    """Whether series ``key`` is one ``selectors`` ask for (empty: every series).

    A selector is a key (``lag:g/t``), a metric (``lag``: all its series) or a key's prefix
    before ``/`` (``lag:g``: every topic of group ``g``).
    """
    return not selectors or any(
        key == s or key.startswith(f"{s}:") or key.startswith(f"{s}/") for s in selectors
    )


@dataclass(frozen=True)
class Window:
    """Part of the history: sample times (Unix seconds) and each series' values at them."""

    times: list[float]
    series: dict[str, list[float | None]]


class MetricsHistory:
    """A ring buffer of sample times and one column of values per series. Thread-safe."""

    def __init__(
        self, capacity: int = CAPACITY, max_series: int = MAX_SERIES, interval: float = INTERVAL
    ) -> None:
        self.capacity = capacity
        self.max_series = max_series
        self.interval = interval
        self._times: deque[float] = deque(maxlen=capacity)
        self._columns: dict[str, deque[float | None]] = {}
        self._seen: dict[str, float] = {}  # series -> time of its last value (or its start)
        self._left_out: set[str] = set()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._times)

    def append(self, at: float, values: Mapping[str, float | None]) -> None:
        """Add the sample taken at ``at``: a value (or None) per series."""
        with self._lock:
            self._times.append(at)
            for key, column in self._columns.items():
                column.append(values.get(key))
            for key, value in values.items():
                if key not in self._columns and not self._start(key, at, value):
                    continue
                if value is not None:
                    self._seen[key] = at
            self._drop_stale()

    def _start(self, key: str, at: float, value: float | None) -> bool:
        if len(self._columns) >= self.max_series:
            if key not in self._left_out:
                self._left_out.add(key)
                log.warning("history.series_left_out", series=key, max_series=self.max_series)
            return False
        column: deque[float | None] = deque([None] * (len(self._times) - 1), self.capacity)
        column.append(value)
        self._columns[key] = column
        self._seen[key] = at
        return True

    def _drop_stale(self) -> None:
        oldest = self._times[0]
        for key in [k for k, seen in self._seen.items() if seen < oldest]:
            del self._columns[key], self._seen[key]

    def window(
        self, seconds: float, selectors: Sequence[str] = (), now: float | None = None
    ) -> Window:
        """The samples of the last ``seconds`` (before ``now``) of the series ``selectors``
        ask for (see :func:`matches`), sorted by key."""
        since = (time.time() if now is None else now) - seconds
        with self._lock:
            start = bisect_left(self._times, since)
            times = list(islice(self._times, start, None))
            series = {
                key: list(islice(column, start, None))
                for key, column in sorted(self._columns.items())
                if matches(key, selectors)
            }
        return Window(times, series)


class HistorySampler:
    """Feeds ``history`` with ``read(now)`` every ``history.interval`` seconds, in a thread.

    The first snapshot is only a baseline: values start one interval later.
    """

    def __init__(
        self,
        history: MetricsHistory,
        read: Callable[[float], Snapshot],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.history = history
        self.read = read
        self.clock = clock
        self._previous: Snapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Take one snapshot and append what it gives against the previous one."""
        snapshot = self.read(self.clock())
        if self._previous is not None:
            self.history.append(snapshot.at, derive(self._previous, snapshot))
        self._previous = snapshot

    @property
    def alive(self) -> bool:
        """Whether the sampling thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="skybridge-history", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                self.sample()
            except Exception as exc:  # a bad sample must not end the history
                log.warning("history.sample_failed", error=f"{type(exc).__name__}: {exc}")
            if self._stop.wait(self.history.interval):
                return


def start_sampling(
    history: MetricsHistory, registry: CollectorRegistry, apps: Sequence[str]
) -> HistorySampler:
    """Sample ``registry`` into ``history`` from now on (``apps``: whose API gets series)."""
    sampler = HistorySampler(history, partial(read_snapshot, registry, list(apps)))
    sampler.start()
    return sampler

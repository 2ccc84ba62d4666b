"""Event-time watermarks: how far event time has progressed, per partition and overall.

The rule (Flink's bounded out-of-orderness, per source partition, combined as in Kafka Streams
and Flink by taking the minimum):

* Each partition ``p`` has an *event watermark* ``W_p = max event time seen in p - lateness``.
  Events up to ``lateness`` seconds out of order are therefore never behind the watermark.
* **Idle rule.** ``last_seen_p`` is the processing time (``clock.now()``) of ``p``'s latest event
  and ``silence = now - last_seen_p``. When ``idle_timeout`` is set and ``silence >=
  idle_timeout``, the partition counts as idle and its watermark advances with processing time:
  ``effective_p = W_p + silence``; otherwise ``effective_p = W_p``. In words: once a partition
  has been silent for ``idle_timeout``, we assume its event time kept pace with the wall clock
  since its last event. This is what lets windows close on quiet streams without a new event.
* The *overall watermark* is ``min(effective_p)`` over the partitions seen so far, and it never
  goes backwards (a late-waking idle partition cannot undo windows that already closed).
* After a restart (:meth:`WatermarkTracker.restore`) silence is counted from the restart, not
  from the last event before it: a partition's backlog must be read before it can be idle.
  Before any event it is ``-inf``.

Partitions are any hashable label (a stream partition number, or a key to track per key).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError


@dataclass(slots=True)
class _PartitionMark:
    max_event_time: float
    last_seen: float


class WatermarkTracker:
    """Tracks per-partition event watermarks and combines them into one monotonic watermark.

    Args:
        lateness: bounded out-of-orderness in seconds (``>= 0``).
        idle_timeout: seconds of processing-time silence after which a partition's watermark
            follows the clock (see the module docstring); ``None`` disables idle advancement.
        clock: processing-time source (inject ``ManualClock`` in tests).
    """

    def __init__(
        self,
        *,
        lateness: float = 0.0,
        idle_timeout: float | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if not lateness >= 0:
            raise ConfigError(f"watermark lateness must be >= 0 seconds, got {lateness!r}")
        if idle_timeout is not None and not idle_timeout >= 0:
            raise ConfigError(f"idle_timeout must be >= 0 seconds, got {idle_timeout!r}")
        self.lateness = float(lateness)
        self.idle_timeout = idle_timeout
        self.clock = clock
        self._marks: dict[Hashable, _PartitionMark] = {}
        self._floor = -math.inf

    def observe(self, event_time: float, partition: Hashable = 0) -> None:
        """Record an event of ``partition`` at ``event_time`` (seen now, by processing time)."""
        now = self.clock.now()
        mark = self._marks.get(partition)
        if mark is None:
            self._marks[partition] = _PartitionMark(event_time, now)
            return
        mark.max_event_time = max(mark.max_event_time, event_time)
        mark.last_seen = now

    def partition_watermark(self, partition: Hashable, now: float | None = None) -> float:
        """The effective watermark of one partition (``-inf`` if it has no events yet)."""
        mark = self._marks.get(partition)
        if mark is None:
            return -math.inf
        return self._effective(mark, self.clock.now() if now is None else now)

    def current(self) -> float:
        """The overall watermark now: min over partitions, never lower than before."""
        if self._marks:
            now = self.clock.now()
            low = min(self._effective(mark, now) for mark in self._marks.values())
            self._floor = max(self._floor, low)
        return self._floor

    def _effective(self, mark: _PartitionMark, now: float) -> float:
        base = mark.max_event_time - self.lateness
        silence = now - mark.last_seen
        if self.idle_timeout is not None and silence >= self.idle_timeout:
            return base + silence
        return base

    def snapshot(self) -> dict[str, Any]:
        """JSON-compatible state, for checkpoints. Partition labels are stored as strings."""
        return {
            "floor": None if self._floor == -math.inf else self._floor,
            "partitions": [
                [str(p), mark.max_event_time, mark.last_seen] for p, mark in self._marks.items()
            ],
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Load a :meth:`snapshot`. Partition labels come back as strings (or ints when numeric).

        Silence is counted afresh from now: the time a worker was down (or the partition was
        unassigned) says nothing about the partition's event time, and its backlog is yet to be
        read. Counting the stored ``last_seen`` would make every partition idle on restart and
        close windows before their remaining events are read.
        """
        floor = snapshot.get("floor")
        self._floor = -math.inf if floor is None else float(floor)
        self._marks = {}
        now = self.clock.now()
        for label, max_time, _last_seen in snapshot.get("partitions", []):
            key: Hashable = int(label) if str(label).lstrip("-").isdigit() else label
            self._marks[key] = _PartitionMark(float(max_time), now)

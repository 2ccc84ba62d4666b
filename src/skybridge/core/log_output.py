"""Log output that never blocks the thread that logs.

A service writes its log lines to stderr, and stderr is often a pipe read by something slower
than the service (a terminal being scrolled, a container runtime, ``journald`` under load). A
write to a full pipe blocks, and the event loop writes the access log: one slow reader would
stall every request. :class:`QueuedOutput` hands each complete line to a writer thread through
a bounded queue instead. When the queue is full the line is dropped, counted in
``skybridge_log_lines_dropped`` and, once the writer catches up, reported in a log line of its
own (``log.lines_dropped``), as container runtimes do in their non-blocking log mode: a service
that answers is worth more than a log that is complete.

Commands other than the service keep writing directly: their output is read when they exit.
"""

from __future__ import annotations

import atexit
import io
import os
import queue
import threading
import time
import weakref
from contextlib import suppress
from typing import TextIO

from prometheus_client import Counter

from skybridge.core.observability import METRICS, get_logger

LINES_DROPPED = Counter(
    "skybridge_log_lines_dropped",
    "Log lines dropped because the log output (stderr) was not read fast enough.",
    registry=METRICS,
)
#: Lines the queue holds before new ones are dropped (a few MB of JSON lines): ``[log]
#: queue_lines``.
CAPACITY = 10_000
#: Lines written to the target in one write and flush.
_BATCH = 500


class QueuedOutput(io.TextIOBase):
    """A text stream whose complete lines a writer thread of its own writes to ``target``.

    Text is buffered per thread until it ends a line (a log call can write its message and its
    newline separately), so lines from different threads never mix and a line is dropped whole
    or written whole. :meth:`drain` waits until what was written is out, the report of lines
    dropped included. The report is logged by the writer thread itself and goes straight to
    ``target`` once the log call has returned (a logger holds its own lock while it writes: a
    slow ``target`` must not hold up other threads' log calls), so a full queue cannot drop it.

    A child process forked from this one starts with an empty queue and starts a writer of its
    own when it first writes (the parent writes what it had queued).
    """

    def __init__(self, target: TextIO, *, capacity: int = CAPACITY) -> None:
        super().__init__()
        self.target = target
        self.capacity = capacity
        self._reset()
        atexit.register(self.drain)
        kept = weakref.ref(self)

        def in_child() -> None:
            output = kept()
            if output is not None:
                output._reset()

        os.register_at_fork(after_in_child=in_child)

    def _reset(self) -> None:
        """A new queue and no writer yet (in a new object, or a forked child)."""
        self._queue: queue.Queue[str] = queue.Queue(maxsize=self.capacity)
        self._partial = threading.local()
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._starting = threading.Lock()
        self._writer: threading.Thread | None = None
        self._own: list[str] | None = None

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.target.isatty()

    def write(self, text: str) -> int:
        pending: str = getattr(self._partial, "text", "") + text
        end = pending.rfind("\n") + 1
        self._partial.text = pending[end:]
        if not end:
            return len(text)
        writer = self._writer or self._start_writer()
        if threading.current_thread() is writer and self._own is not None:
            self._own.append(pending[:end])  # written once the log call has returned
            return len(text)
        try:
            self._queue.put_nowait(pending[:end])
        except queue.Full:
            lines = pending.count("\n", 0, end)
            with self._dropped_lock:  # counted before any report can miss it (see drain)
                self._dropped += lines
            LINES_DROPPED.inc(lines)
        return len(text)

    def flush(self) -> None:
        """Nothing to do here: the writer flushes what it writes (see :meth:`drain`)."""

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until every queued line is written and every line
        dropped is reported; whether that happened in time."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        while True:
            with done:
                while self._queue.unfinished_tasks:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    done.wait(left)
            with self._dropped_lock:
                unreported = self._dropped
            if not unreported:
                return True
            if time.monotonic() >= deadline:
                return False
            # a line dropped after the writer's last report: wake it up to report it
            with suppress(queue.Full):
                self._queue.put_nowait("")
            if self._writer is None:
                self._start_writer()

    def _start_writer(self) -> threading.Thread:
        with self._starting:
            if self._writer is None:
                writer = threading.Thread(
                    target=self._write_forever, name="skybridge-log", daemon=True
                )
                writer.start()
                self._writer = writer
            return self._writer

    def _write_forever(self) -> None:
        while True:
            lines = [self._queue.get()]
            while len(lines) < _BATCH:
                try:
                    lines.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write("".join(lines))
                self._report_dropped()
            finally:  # after the report: :meth:`drain` waits for it too
                for _ in lines:
                    self._queue.task_done()

    def _write(self, text: str) -> None:
        if not text:
            return
        try:
            self.target.write(text)
            self.target.flush()
        except Exception:  # stderr closed, gone or broken: the service goes on without it
            LINES_DROPPED.inc(text.count("\n"))

    def _report_dropped(self) -> None:
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, 0
        if not dropped:
            return
        self._own = []
        try:
            get_logger("skybridge.log").warning(
                "log.lines_dropped",
                lines=dropped,
                note="the log output (stderr) was read too slowly; the service went on",
            )
        except Exception:  # a broken logger must not end the writer: the next report says it
            with self._dropped_lock:
                self._dropped += dropped
        finally:
            own, self._own = self._own, None
        self._write("".join(own))


_service_output: QueuedOutput | None = None
_service_lock = threading.Lock()


def service_output(target: TextIO, capacity: int = CAPACITY) -> QueuedOutput:
    """The process's one :class:`QueuedOutput` (made on first use, writing to ``target`` and
    holding up to ``capacity`` lines)."""
    global _service_output
    with _service_lock:
        if _service_output is None:
            _service_output = QueuedOutput(target, capacity=capacity)
        return _service_output


def drain_service_output(timeout: float = 5.0) -> None:
    """Wait up to ``timeout`` seconds for the service's queued log lines (before a hard exit,
    which skips the exit handler that would)."""
    if _service_output is not None:
        _service_output.drain(timeout)

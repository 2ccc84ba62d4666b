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
    dropped included. Lines the writer logs itself (that report) go straight to ``target``:
    it is the one thread writing there, and a full queue must not drop the report too.

    A child process forked from this one starts with an empty queue and a writer of its own
    (the parent writes what it had queued).
    """

    def __init__(self, target: TextIO, *, capacity: int = CAPACITY) -> None:
        super().__init__()
        self.target = target
        self.capacity = capacity
        self._start()
        atexit.register(self.drain)
        os.register_at_fork(after_in_child=self._start)

    def _start(self) -> None:
        self._queue: queue.Queue[str] = queue.Queue(maxsize=self.capacity)
        self._partial = threading.local()
        self._dropped = 0
        self._dropped_lock = threading.Lock()
        self._writer = threading.Thread(
            target=self._write_forever, name="skybridge-log", daemon=True
        )
        self._writer.start()

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
        if threading.current_thread() is self._writer:
            self._write(pending[:end])
            return len(text)
        try:
            self._queue.put_nowait(pending[:end])
        except queue.Full:
            self._drop(pending.count("\n", 0, end))
        return len(text)

    def flush(self) -> None:
        """Nothing to do here: the writer flushes what it writes (see :meth:`drain`)."""

    def drain(self, timeout: float = 5.0) -> bool:
        """Wait up to ``timeout`` seconds until every queued line is written; whether it was."""
        deadline = time.monotonic() + timeout
        done = self._queue.all_tasks_done
        with done:
            while self._queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                done.wait(left)
        return True

    def _drop(self, lines: int) -> None:
        with self._dropped_lock:
            self._dropped += lines
        LINES_DROPPED.inc(lines)

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
        try:
            get_logger("skybridge.log").warning(
                "log.lines_dropped",
                lines=dropped,
                note="the log output (stderr) was read too slowly; the service went on",
            )
        except Exception:  # a broken logger must not end the writer: the next report says it
            with self._dropped_lock:
                self._dropped += dropped


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

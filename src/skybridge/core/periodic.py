"""Work repeated every few seconds in a thread of its own while something else runs: renewing
a lease, checking for new imports."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

#: What a tick answers to end its :class:`Periodic` (any other answer is ignored).
STOP = object()


class Periodic:
    """Calls ``tick`` every ``interval`` seconds (the first call one interval after
    :meth:`start`) in a daemon thread named ``name``, until :meth:`stop` or until ``tick``
    answers :data:`STOP`. ``tick`` handles its own errors: one it raises ends the thread.

    A context manager too: ``with Periodic(...):`` starts it and stops it at the end of the
    block.
    """

    def __init__(self, interval: float, tick: Callable[[], object], *, name: str) -> None:
        self.interval = interval
        self._tick = tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Ask the thread to stop and wait for it (up to ``timeout`` seconds; a ``tick`` in
        progress finishes first). Nothing to wait for if it never started."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self._tick() is STOP:
                return

    def __enter__(self) -> Periodic:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

"""Another member of a consumer group, for tests of what a second member sees."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from skybridge.backends.streams.base import StreamBackend


@contextmanager
def member_holding(backend: StreamBackend, group: str, topics: Sequence[str]) -> Iterator[None]:
    """A member of ``group`` that joins first, so it holds every partition of ``topics`` a
    newcomer's share leaves it (all of a one-partition topic, as a running service does), and
    keeps its membership alive until the block ends."""
    holder = backend.consumer(group, list(topics))
    if not holder.wait_for_assignment(10):
        holder.close()
        raise AssertionError(f"no partition of {', '.join(topics)} was assigned in 10 s")
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(0.1):
            holder.assignment()

    thread = threading.Thread(target=heartbeat, name=f"{group}-holder", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        holder.close()

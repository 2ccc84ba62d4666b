"""Keeping the garbage collector's full passes short while the service runs.

A full collection walks every object the interpreter tracks and holds the GIL throughout, so
nothing else runs meanwhile, ``/healthz`` included. In a service whose apps have loaded their
libraries that is some 600,000 objects (the demo, once its embedding model is loaded), and a
pass takes hundreds of milliseconds. Nearly all of them are what the imported modules define
(functions, classes, constants), which live as long as the process.

:class:`ImportFreezer` moves them out of the collector's way (``gc.freeze``): once the service
has started, and again whenever modules were imported since (a first request or a background
job loading a library), checked every few seconds. A full pass then walks a few thousand
objects. Everything alive at a freeze is frozen, not only what the
imports made. Frozen objects are still freed as soon as nothing refers to them; only a
reference cycle that was alive at a freeze and dies later is never collected, so freezes happen
only after imports (a handful of times, soon after start-up), each after a full collection (so
no dead cycle is frozen; once the first freeze is done a full pass walks only what came after).
"""

from __future__ import annotations

import gc
import sys

from skybridge.core.observability import get_logger
from skybridge.core.periodic import Periodic

log = get_logger(__name__)
#: Seconds between checks for modules imported since the last freeze.
INTERVAL = 5.0


class ImportFreezer:
    """Freezes the tracked objects at :meth:`start` and after each wave of imports.

    Args:
        interval: Seconds between checks for newly imported modules.
    """

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._modules = 0
        self._checking = Periodic(interval, self.check, name="skybridge-gc-freeze")

    def start(self) -> None:
        """Freeze what start-up left, after a full collection (call it before the service
        serves: the collection holds the GIL), then check in a thread of its own."""
        gc.collect()
        self._freeze()
        self._checking.start()

    def stop(self) -> None:
        self._checking.stop(timeout=self.interval + 1)

    def check(self) -> bool:
        """Freeze if modules were imported since the last freeze; whether it did."""
        if len(sys.modules) == self._modules:
            return False
        # a full pass, so no dead cycle of any generation is frozen (it walks only what was not
        # frozen before: a few thousand objects)
        gc.collect()
        self._freeze()
        return True

    def _freeze(self) -> None:
        self._modules = len(sys.modules)
        gc.freeze()
        log.debug("gc.frozen", objects=gc.get_freeze_count(), modules=self._modules)

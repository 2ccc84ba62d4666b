"""Validated mapping tables kept in memory, by the text they were parsed from.

The service finds its table on every request (the HTTP routes, the dashboard, the Overview and
Backends pages' probes). Parsing and validating a table of thousands of mappings takes a large
part of a second, so a table is parsed once per distinct text: the key is a SHA-256 of the text
with its format and the backends it may borrow, so any edit (or another
``SKYBRIDGE__BACKENDS__SECRETS``) parses again, and an unchanged file or inline setting does
not. A kept :class:`~skybridge.apps.secretsync.model.MappingTable` is shared by the engines
built from it; it is frozen and nothing changes it after validation.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

from skybridge.apps.secretsync.model import MappingTable

#: Distinct tables kept (a process normally has one; tests make many).
KEPT = 8
Key = tuple[str, str, tuple[tuple[str, str], ...]]


class ParsedTables:
    """A small least-recently-used map from a table's text to the validated table."""

    def __init__(self, size: int = KEPT) -> None:
        self.size = size
        self._tables: OrderedDict[Key, MappingTable] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        text: str,
        fmt: str,
        backends: Mapping[str, str],
        parse: Callable[[], MappingTable],
    ) -> MappingTable:
        """The table parsed from ``text`` before, or ``parse()`` (kept when it succeeds)."""
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        key: Key = (digest, fmt, tuple(sorted(backends.items())))
        with self._lock:
            table = self._tables.get(key)
            if table is not None:
                self._tables.move_to_end(key)
                return table
        table = parse()  # outside the lock: a slow parse does not hold up other tables
        with self._lock:
            self._tables[key] = table
            self._tables.move_to_end(key)
            while len(self._tables) > self.size:
                self._tables.popitem(last=False)
        return table

    def clear(self) -> None:
        with self._lock:
            self._tables.clear()

"""Where window aggregates live: a small store protocol, in memory or in a ``kv`` backend.

A window is identified by ``(key, start)``. Its record holds the window end (sessions grow),
the aggregator's accumulator and whether the window has closed (closed windows are only kept
under the ``update`` late policy). The ``kv`` store serializes each record as JSON, so
accumulators must be JSON-compatible (numbers, strings, lists, dicts; tuples come back as
lists) for it; :class:`MemoryWindowStore` keeps the Python objects as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, unquote

from skybridge.backends.kv.base import KeyValueStore
from skybridge.core.errors import ValidationError


@dataclass(slots=True)
class StoredWindow:
    """One window's state."""

    key: str
    start: float
    end: float
    acc: Any
    closed: bool = False


class WindowStore(Protocol):
    """Persistence for window state, keyed by ``(key, start)``, plus named metadata documents."""

    def load(self, key: str, start: float) -> StoredWindow | None:
        """The window of ``key`` starting at ``start``, or ``None``."""
        ...

    def save(self, window: StoredWindow) -> None:
        """Create or replace the window at ``(window.key, window.start)``."""
        ...

    def remove(self, key: str, start: float) -> None:
        """Forget a window (absent windows are ignored)."""
        ...

    def scan(self) -> Iterator[StoredWindow]:
        """Every stored window, for recovery after a restart."""
        ...

    def load_meta(self, name: str) -> Any:
        """A metadata document saved with :meth:`save_meta`, or ``None``."""
        ...

    def save_meta(self, name: str, document: Any) -> None:
        """Store a JSON-compatible metadata document (e.g. a watermark snapshot)."""
        ...


class MemoryWindowStore:
    """Window state in a dict: fast, lost with the process."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, float], StoredWindow] = {}
        self._meta: dict[str, Any] = {}

    def load(self, key: str, start: float) -> StoredWindow | None:
        return self._windows.get((key, start))

    def save(self, window: StoredWindow) -> None:
        self._windows[(window.key, window.start)] = window

    def remove(self, key: str, start: float) -> None:
        self._windows.pop((key, start), None)

    def scan(self) -> Iterator[StoredWindow]:
        return iter(list(self._windows.values()))

    def load_meta(self, name: str) -> Any:
        return self._meta.get(name)

    def save_meta(self, name: str, document: Any) -> None:
        self._meta[name] = document

    def __len__(self) -> int:
        return len(self._windows)


class KVWindowStore:
    """Window state in a :class:`KeyValueStore` (sqlite, redis, dynamodb), one item per window.

    Keys are ``<prefix>w/<url-quoted key>/<start>`` and ``<prefix>m/<name>``; give each
    windowed operator its own ``prefix`` (or kv namespace).
    """

    def __init__(self, kv: KeyValueStore, *, prefix: str = "windows/") -> None:
        self.kv = kv
        self.prefix = prefix

    def _item_key(self, key: str, start: float) -> str:
        return f"{self.prefix}w/{quote(key, safe='')}/{float(start)!r}"

    def load(self, key: str, start: float) -> StoredWindow | None:
        doc = self.kv.get_json(self._item_key(key, start))
        return None if doc is None else _from_doc(key, doc)

    def save(self, window: StoredWindow) -> None:
        doc = {"start": window.start, "end": window.end, "acc": window.acc}
        if window.closed:
            doc["closed"] = True
        try:
            self.kv.put_json(self._item_key(window.key, window.start), doc)
        except ValidationError as exc:
            raise ValidationError(
                f"window state for key {window.key!r} cannot be stored: {exc.message}",
                hint="accumulators must be JSON-compatible for a kv window store",
            ) from None

    def remove(self, key: str, start: float) -> None:
        self.kv.delete(self._item_key(key, start))

    def scan(self) -> Iterator[StoredWindow]:
        head = f"{self.prefix}w/"
        for item in self.kv.scan_prefix(head):
            quoted = item.key[len(head) :].rsplit("/", 1)[0]
            yield _from_doc(unquote(quoted), json.loads(item.value))

    def load_meta(self, name: str) -> Any:
        return self.kv.get_json(f"{self.prefix}m/{name}")

    def save_meta(self, name: str, document: Any) -> None:
        self.kv.put_json(f"{self.prefix}m/{name}", document)


def _from_doc(key: str, doc: dict[str, Any]) -> StoredWindow:
    return StoredWindow(
        key=key,
        start=float(doc["start"]),
        end=float(doc["end"]),
        acc=doc["acc"],
        closed=bool(doc.get("closed", False)),
    )

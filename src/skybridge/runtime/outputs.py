"""What handlers return: effects for the pipeline's sinks, and the event they came from.

A handler never touches a sink itself; it returns outputs and the pipeline applies them after
the batch, idempotently, before committing offsets. Each output names its sink (``sink=``,
default the sink kind: ``stream``, ``kv``, ``sql``, ``notify``). Outputs are plain slotted
dataclasses, not frozen ones, which cost three times as much to build (handlers build one per
record).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from skybridge.backends.notify.message import Notification
from skybridge.backends.streams.records import Headers, Record

#: Header carrying an output's event id, so downstream consumers can drop duplicates.
EVENT_ID_HEADER = "skybridge-event-id"


class Event(NamedTuple):
    """A consumed record as handlers see it: the record, its string key, its decoded value.

    A named tuple, like :class:`Record`: one is built per record on the hot path.
    """

    record: Record
    key: str
    value: Any

    @property
    def timestamp(self) -> float:
        return self.record.timestamp

    @property
    def event_id(self) -> str:
        return event_id(self.record)

    def header(self, name: str) -> bytes | None:
        """The last header called ``name``, or ``None``."""
        found = None
        for key, value in self.record.headers:
            if key == name:
                found = value
        return found


def event_id(record: Record) -> str:
    """``topic/partition/offset``: unique per record on one backend."""
    return f"{record.topic}/{record.partition}/{record.offset}"


def source_id(record: Record) -> str:
    """``topic/partition``: the ordered source a version guard tracks."""
    return f"{record.topic}/{record.partition}"


@dataclass(slots=True)
class Emit:
    """Produce ``value`` (bytes, or anything JSON-encodable) to ``topic``."""

    topic: str
    value: Any
    key: str | bytes | None = None
    headers: Headers = ()
    sink: str = "stream"

    def payload(self) -> bytes:
        if isinstance(self.value, bytes):
            return self.value
        return json.dumps(self.value, separators=(",", ":")).encode()


@dataclass(slots=True)
class Put:
    """Set kv ``key`` to the JSON document ``value``."""

    key: str
    value: Any
    sink: str = "kv"


@dataclass(slots=True)
class Update:
    """Replace kv ``key``'s document by ``fn(current)`` (``current`` is None if absent).

    Applied exactly once per event even when the event is delivered again (version guard),
    so non-idempotent updates such as counters stay correct.
    """

    key: str
    fn: Callable[[Any], Any]
    sink: str = "kv"


@dataclass(slots=True)
class Delete:
    """Remove kv ``key`` (a guarded tombstone is kept so older events cannot revive it)."""

    key: str
    sink: str = "kv"


@dataclass(slots=True)
class Upsert:
    """Insert or update one row of ``table`` (primary key columns given to the SQL sink)."""

    table: str
    row: dict[str, Any] = field(default_factory=dict)
    sink: str = "sql"


@dataclass(slots=True)
class Insert(Upsert):
    """Insert one row of ``table`` unless a row with its key is stored; then write nothing.

    For rows that must never replace what is stored under their key (an event delivered again
    after it was handled in full), whatever their offset. The SQL sink applies it in
    record order with the batch's upserts.
    """


@dataclass(slots=True)
class Alert:
    """Send ``notification`` through the notify sink."""

    notification: Notification
    sink: str = "notify"


Output = Emit | Put | Update | Delete | Upsert | Alert


class Effect(NamedTuple):
    """One output of one record, with its position in the record's outputs (a named tuple)."""

    record: Record
    index: int  # type: ignore[assignment]  # shadows tuple.index, which nothing calls here
    output: Output

    @property
    def event_id(self) -> str:
        return f"{event_id(self.record)}/{self.index}"

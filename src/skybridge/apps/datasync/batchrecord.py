"""What is known about one batch: its window, its files, and each step's outcome (in kv).

A batch is identified by its id (``<name>-<window start>``, e.g. ``orders-20260101T000000Z``;
``<name>-<window start>-<seconds>s`` for a window whose plain id is taken by a window of
another length, as after the sync's ``every`` changed: see :meth:`BatchRecords.for_window`).
Its record lives under ``datasync/batches/<id>`` in the app's kv store and is written after
every step, so a batch interrupted anywhere resumes at the first step not recorded ``done``,
and running a finished batch again does nothing.
"""

from __future__ import annotations

import heapq
import json
import re
import time
from calendar import timegm
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from skybridge.backends.kv import KeyValueStore
from skybridge.core.errors import ValidationError, shown

STEPS = ("extract", "copy", "load", "merge")
PREFIX = "datasync/batches/"
StepState = Literal["pending", "done", "failed"]
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
_WINDOW = re.compile(r"-(\d{8}T\d{6})Z(?:-[0-9.]+s)?$")
#: Part of a window by which a record's bounds may miss a window's and still be its own.
_SLACK = 1e-6


def batch_id(name: str, window_start: float, length: float | None = None) -> str:
    """``<name>-<window start as YYYYmmddTHHMMSSZ>``, then ``-<length>s`` when ``length``
    (seconds) is given."""
    moment = datetime.fromtimestamp(window_start, UTC)
    plain = f"{name}-{moment.strftime('%Y%m%dT%H%M%SZ')}"
    if length is None:
        return plain
    return f"{plain}-{f'{length:.3f}'.rstrip('0').rstrip('.')}s"


def window_of_id(batch: str) -> int | None:
    """The whole second of the window start a batch id names (``None``: not that shape)."""
    found = _WINDOW.search(batch)
    if found is None:
        return None
    try:
        return timegm(time.strptime(found.group(1), "%Y%m%dT%H%M%S"))
    except ValueError:
        return None


def is_batch_id(value: str) -> bool:
    """Whether ``value`` is shaped like a batch id (no batch has an id of another shape)."""
    return _ID.fullmatch(value) is not None


def check_batch_id(value: str) -> str:
    """``value`` if it has the shape of a batch id, else ValidationError naming the rule."""
    if not is_batch_id(value):
        raise ValidationError(
            f"batch id {shown(value, 100)} must be 1-120 letters, digits, '.', '_' and '-', "
            "starting with a letter or digit",
            hint="batch ids look like orders-daily-20260101T000000Z (see the batch list)",
        )
    return value


@dataclass
class StepRecord:
    state: StepState = "pending"
    at: float | None = None
    seconds: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class BatchRecord:
    """One batch: ``steps`` in :data:`STEPS` order; ``parts`` are the file keys it moves."""

    id: str
    name: str
    table: str
    window_start: float
    window_end: float
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    parts: list[str] = field(default_factory=list)
    rows: int = 0
    steps: dict[str, StepRecord] = field(default_factory=lambda: {s: StepRecord() for s in STEPS})

    @property
    def state(self) -> str:
        states = [self.steps[s].state for s in STEPS]
        if all(s == "done" for s in states):
            return "done"
        if "failed" in states:
            return "failed"
        return "running" if "done" in states else "pending"

    @property
    def next_step(self) -> str | None:
        return next((s for s in STEPS if self.steps[s].state != "done"), None)

    @property
    def error(self) -> str | None:
        return next((self.steps[s].error for s in STEPS if self.steps[s].error), None)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["state"], doc["error"] = self.state, self.error
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> BatchRecord:
        steps = {s: StepRecord(**doc["steps"].get(s, {})) for s in STEPS}
        fields = {k: doc[k] for k in ("id", "name", "table", "window_start", "window_end")}
        extra = {k: doc[k] for k in ("created_at", "updated_at", "parts", "rows") if k in doc}
        return cls(**fields, **extra, steps=steps)


def _same_window(record: BatchRecord, start: float, end: float) -> bool:
    slack = _SLACK * max(end - start, 1.0)
    return abs(record.window_start - start) <= slack and abs(record.window_end - end) <= slack


class BatchRecords:
    """Batch records in a kv store."""

    def __init__(self, kv: KeyValueStore) -> None:
        self.kv = kv

    def get(self, batch: str) -> BatchRecord | None:
        """The record of batch ``batch``; None when there is none (or cannot be one)."""
        if not is_batch_id(batch):
            return None
        raw = self.kv.get(PREFIX + batch)
        return None if raw is None else BatchRecord.from_dict(json.loads(raw))

    def for_window(self, name: str, table: str, start: float, end: float) -> BatchRecord:
        """The record of batch sync ``name``'s window ``[start, end)``: the one stored (to
        resume or pass it), else a new one.

        A record counts as the window's only when its start and end are the window's: after
        ``every`` changed, a new window often starts with an old one (an hourly window and the
        daily one holding it), and taking the old batch for the new window would pass rows
        of the rest of it (done) or run it with the old bounds (failed). Such a window gets
        the id with its length (``<name>-<start>-<seconds>s``); the plain id is kept for
        windows it is free for, so the ids of batches run before stay theirs.
        """
        qualified = batch_id(name, start, end - start)
        plain = self.get(batch_id(name, start))
        for found in (self.get(qualified), plain):
            if found is not None and found.name == name and _same_window(found, start, end):
                return found
        batch = batch_id(name, start) if plain is None else qualified
        return BatchRecord(batch, name, table, start, end)

    def save(self, record: BatchRecord) -> None:
        record.updated_at = time.time()
        self.kv.put(PREFIX + record.id, json.dumps(record.to_dict()).encode())

    def all(self, limit: int = 200) -> list[BatchRecord]:
        """Batches, newest window first (at most ``limit``)."""
        return self.newest(limit)[0]

    def newest(self, limit: int = 200) -> tuple[list[BatchRecord], int]:
        """The ``limit`` batches of the newest windows (ties by id, descending) and how many
        batches there are in all.

        The kv scans keys in ascending order only, so every key is visited; the window start
        is read from the key (``<name>-<YYYYmmddTHHMMSSZ>``) and only the records that can be
        in the answer are decoded: those above the cut, and those in the cut's second (a
        window may start at a fraction of a second, which the id leaves out).
        """
        keyed: list[tuple[int, str, bytes]] = []
        decoded: list[BatchRecord] = []  # ids of another shape: decoded to know their window
        for item in self.kv.scan_prefix(PREFIX):
            batch = item.key[len(PREFIX) :]
            second = window_of_id(batch)
            if second is None:
                decoded.append(BatchRecord.from_dict(json.loads(item.value)))
            else:
                keyed.append((second, batch, item.value))
        total = len(keyed) + len(decoded)
        top = heapq.nlargest(limit, keyed, key=lambda k: (k[0], k[1]))
        cut = top[-1][0] if len(top) == limit and top else None
        chosen = {k[1] for k in top}
        ties = [k for k in keyed if k[0] == cut and k[1] not in chosen] if cut is not None else []
        for _, _, raw in [*top, *ties]:
            decoded.append(BatchRecord.from_dict(json.loads(raw)))
        decoded.sort(key=lambda r: (r.window_start, r.id), reverse=True)
        return decoded[:limit], total

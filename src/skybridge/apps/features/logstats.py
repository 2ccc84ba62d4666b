"""Counters of the offline log per view (files, rows, bytes), kept in the online kv store by
the log writer, so the page need not list the log: it grows by a file per pipeline batch and
view, and listing it cost every page load time in proportion to the service's uptime.

The key ``features/offline-log/<view>`` (view names have no ``-``, so no view's entities can
be there) is updated with compare-and-set after each new file is written. It also keeps, per
source, the first offset of the last part file counted: a batch delivered again that finds its
file written counts it only if it starts after that one, so a file whose count failed (a writer
killed, or the kv store failing, between writing and counting it) is counted by the next
delivery of its batch, and a file counted already is not counted again. The counters are close,
not exact: a file whose count failed stays uncounted when its batch comes again batched
otherwise (another file) or after a later part of its source was counted (batches of one shard
handled side by side), and is counted twice when a listing that starts the counters held it;
``skybridge features status`` lists the log and is exact. Counters that do not exist yet are
started from a listing of the log, by the first writer or reader, so a log written before the
counters existed is counted whole.

Compaction (:mod:`.compaction`) changes them by steps: :func:`begin_step` records, in the same
document, the merged file a step is about to write and what the step changes (files, rows and
bytes: the merged file in, its inputs out); :func:`settle_step` applies that change and drops the
record in one compare-and-set once the inputs are deleted, and only if the record is still there,
so a step is counted once whoever settles it (the compaction itself, or the next one after a
crash). Until then the counters show the log as it was before the step: its rows once, not twice.
:func:`drop_step` drops the record of a step whose merged file was never written, and keeps the
file's key among the last :data:`DROPPED_KEPT` dropped ones (:func:`was_dropped`): a compaction
paused past its lease that writes that file afterwards tells so that its step was dropped (its
file counted nowhere) rather than settled (its inputs deleted).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

from skybridge.backends.kv import KeyValueStore
from skybridge.backends.objects import ObjectStore
from skybridge.core.errors import Conflict

PREFIX = "features/offline-log/"
#: The field of a view's counters holding the compaction step not settled yet.
STEP = "compacting"
#: The field of a view's counters holding the merged files of the last steps dropped.
DROPPED = "dropped"
#: Dropped steps remembered (a step is dropped only after a crash or a pause past the lease).
DROPPED_KEPT = 20
#: The field of a view's counters holding, per source, the first offset (decimal text) of the
#: last part file counted.
PARTS = "parts"
_ATTEMPTS = 50


def log_stats(objects: ObjectStore, view: str, prefix: str = "features/log") -> dict[str, Any]:
    """Files and bytes of a view's log, listed (exact; reads no file, lists every one)."""
    files = 0
    size = 0
    for entry in objects.list(f"{prefix.strip('/')}/{view}/"):
        if entry.key.endswith(".parquet") and hasattr(entry, "size"):
            files += 1
            size += entry.size
    return {"files": files, "bytes": size}


def stats_key(view: str) -> str:
    return PREFIX + view


class Part(NamedTuple):
    """Where a part file of the log starts: the source and offset of its first row."""

    source: str
    offset: int


def count_file(
    kv: KeyValueStore,
    objects: ObjectStore,
    prefix: str,
    view: str,
    rows: int,
    size: int,
    part: Part | None = None,
    *,
    again: bool = False,
) -> bool:
    """Add one file of ``rows`` rows and ``size`` bytes, just written, to ``view``'s counters;
    whether it was counted now.

    Counters that do not exist yet start from a listing of the log (taken now, so it holds
    the new file): a log written before the counters existed is counted whole, whether a
    writer or a reader comes first after an upgrade. ``part`` becomes its source's last part
    counted unless one starting later is. With ``again`` (the file was found written: its batch
    delivered again) it is counted only if it starts after its source's last part counted.
    """
    key = stats_key(view)
    ceiling: dict[str, Any] | None = None  # a listing taken after losing the race to start
    for _ in range(_ATTEMPTS):
        item = kv.get_item(key)
        if item is None:
            listed = log_stats(objects, view, prefix)
            doc = {
                "files": listed["files"],
                "rows": rows if listed["files"] <= 1 else None,  # older files: rows unknown
                "bytes": listed["bytes"],
            }
        else:
            found = json.loads(item.value)
            if again and part is not None and not _after_last(found, part):
                return False  # counted when it was written, or by a delivery before
            doc = _added(found, rows, size, ceiling)
        if part is not None:
            doc = _with_last(doc, part)
        try:
            kv.compare_and_set(key, json.dumps(doc).encode(), 0 if item is None else item.version)
            return True
        except Conflict:
            if item is None:  # another writer (or a reader) started them, maybe with our file
                ceiling = log_stats(objects, view, prefix)
            continue  # read again
    raise Conflict(f"could not update the offline log counters of view {view!r}")


def _added(
    found: dict[str, Any], rows: int, size: int, ceiling: dict[str, Any] | None
) -> dict[str, Any]:
    """The counters ``found`` with one more file (at most the files of ``ceiling``, a listing
    taken after another writer started them)."""
    known = found.get("rows", 0)  # None: started from a listing, rows unknown
    doc = found | {  # other fields (a compaction step in progress) are kept
        "files": int(found.get("files", 0)) + 1,
        "rows": None if known is None else int(known) + rows,
        "bytes": int(found.get("bytes", 0)) + size,
    }
    if ceiling is not None and doc["files"] > ceiling["files"]:
        # the writer that started them listed this file already: count it once
        doc |= {"files": ceiling["files"], "rows": None, "bytes": ceiling["bytes"]}
    return doc


def _last_parts(doc: dict[str, Any]) -> dict[str, str]:
    found = doc.get(PARTS)
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _after_last(doc: dict[str, Any], part: Part) -> bool:
    """Whether ``part`` starts after the last part of its source the counters ``doc`` hold."""
    last = _last_parts(doc).get(part.source)
    return last is None or part.offset > int(last)


def _with_last(doc: dict[str, Any], part: Part) -> dict[str, Any]:
    """``doc`` with ``part`` as its source's last part counted, unless one starting later is."""
    if not _after_last(doc, part):
        return doc
    return doc | {PARTS: _last_parts(doc) | {part.source: str(part.offset)}}


def counted_stats(
    kv: KeyValueStore, objects: ObjectStore, view: str, prefix: str
) -> dict[str, Any]:
    """``{"files", "rows", "bytes"}`` of ``view``'s log from its counters (one kv read); the
    first read of a log that has none lists it once and stores them (``rows`` then ``None``:
    counting rows would read every file)."""
    raw = kv.get(stats_key(view))
    if raw is not None:
        doc = json.loads(raw)
        return {"files": doc["files"], "rows": doc.get("rows"), "bytes": doc["bytes"]}
    listed = log_stats(objects, view, prefix)
    rows = 0 if listed["files"] == 0 else None
    seed = {"files": listed["files"], "rows": rows, "bytes": listed["bytes"]}
    try:
        kv.compare_and_set(stats_key(view), json.dumps(seed).encode(), 0)
    except Conflict:  # a writer started them meanwhile: theirs from now on
        return counted_stats(kv, objects, view, prefix)
    return seed


def pending_step(kv: KeyValueStore, view: str) -> dict[str, Any] | None:
    """The compaction step of ``view`` begun and not settled: ``{"key", "files", "rows",
    "bytes"}`` (``key``: the merged file; the others: what the step changes), or ``None``."""
    raw = kv.get(stats_key(view))
    return None if raw is None else _step(json.loads(raw))


def _step(doc: dict[str, Any], key: str | None = None) -> dict[str, Any] | None:
    """The step pending in the counters ``doc`` (the one writing ``key``, when given)."""
    step = doc.get(STEP)
    if not isinstance(step, dict) or (key is not None and step.get("key") != key):
        return None
    return step


def begin_step(
    kv: KeyValueStore, objects: ObjectStore, view: str, prefix: str, step: dict[str, Any]
) -> None:
    """Record ``step`` (see :func:`pending_step`) in ``view``'s counters, started from a
    listing when they do not exist yet, before its merged file is written.

    Raises:
        Conflict: another step of the view is pending (settle it first).
    """

    def record(doc: dict[str, Any]) -> dict[str, Any]:
        pending = _step(doc)
        if pending is not None and pending.get("key") != step["key"]:
            raise Conflict(
                f"view {view!r} has a compaction step pending ({pending.get('key')})",
                hint="run the compaction again: it settles that step first",
            )
        return doc | {STEP: step}

    for _ in range(3):
        counted_stats(kv, objects, view, prefix)
        if _rewrite(kv, view, record):
            return
    raise Conflict(f"could not record a compaction step of view {view!r}")


def settle_step(kv: KeyValueStore, view: str, key: str) -> bool:
    """Apply the change of the step writing ``key`` to ``view``'s counters and drop its record;
    ``False`` (nothing done) when that step is not pending (already settled)."""

    def apply(doc: dict[str, Any]) -> dict[str, Any] | None:
        step = _step(doc, key)
        if step is None:
            return None
        rows = doc.get("rows")
        settled = {k: v for k, v in doc.items() if k != STEP}
        return settled | {
            "files": int(doc.get("files", 0)) + int(step["files"]),
            "rows": None if rows is None or step.get("rows") is None else rows + step["rows"],
            "bytes": int(doc.get("bytes", 0)) + int(step["bytes"]),
        }

    return _rewrite(kv, view, apply)


def drop_step(kv: KeyValueStore, view: str, key: str) -> bool:
    """Drop the record of the step writing ``key`` without applying it (its file was never
    written) and remember ``key`` as dropped; ``False`` when that step is not pending."""

    def drop(doc: dict[str, Any]) -> dict[str, Any] | None:
        if _step(doc, key) is None:
            return None
        dropped = [*_dropped(doc), key][-DROPPED_KEPT:]
        return {k: v for k, v in doc.items() if k != STEP} | {DROPPED: dropped}

    return _rewrite(kv, view, drop)


def was_dropped(kv: KeyValueStore, view: str, key: str) -> bool:
    """Whether the step writing ``key`` was dropped (among the last :data:`DROPPED_KEPT`)."""
    raw = kv.get(stats_key(view))
    return raw is not None and key in _dropped(json.loads(raw))


def _dropped(doc: dict[str, Any]) -> list[str]:
    found = doc.get(DROPPED)
    return [str(key) for key in found] if isinstance(found, list) else []


def _rewrite(
    kv: KeyValueStore, view: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]
) -> bool:
    """``change`` applied to ``view``'s counters by compare-and-set; ``False`` when there are
    no counters or ``change`` answers ``None`` (leave them)."""
    key = stats_key(view)
    for _ in range(_ATTEMPTS):
        item = kv.get_item(key)
        if item is None:
            return False
        doc = change(json.loads(item.value))
        if doc is None:
            return False
        try:
            kv.compare_and_set(key, json.dumps(doc).encode(), item.version)
            return True
        except Conflict:
            continue
    raise Conflict(f"could not update the offline log counters of view {view!r}")

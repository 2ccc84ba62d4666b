"""Compaction of the offline log: a view's small part files of a day merged into a few larger
Parquet files, one row per ``(source, offset)``, every row kept.

Merged files sit beside the parts, in the same day folder, so every reader reads them as it
reads parts::

    <prefix>/<view>/date=<day>/compact-<UTC time>-<random>.parquet

Which files are merged, per day folder, among the files written at least ``min_age`` seconds
ago (younger ones may still be redelivered batches in flight):

* today (UTC): the parts, into new compacted files; the day's compacted files are left alone,
  so a growing day is not rewritten on every run;
* a closed day (before today): the parts and the compacted files smaller than half the target,
  into files of at most ``target_bytes`` (counted on the inputs), again until nothing is left
  to merge: a day usually ends as one file.

A merge step reads at most :data:`MAX_INPUTS` files, keeps the first row of each
``(source, offset)`` in key order (as :func:`~.offline.read_log` does), and goes:

1. record the step in the view's counters (:func:`~.logstats.begin_step`): the merged file's
   key and what the step changes;
2. write the merged file under a new key, naming its inputs in its Parquet metadata;
3. delete the inputs;
4. apply the step to the counters and drop its record (:func:`~.logstats.settle_step`).

A crash anywhere leaves every row in some file (readers keep one per ``(source, offset)``), and
the next compaction of the view settles the step first: with the merged file written, it
deletes the inputs still there as they were merged (same SHA-256 digest as the merged file's
metadata records: a part written again since, by a batch delivered again, is counted anew and
left to the next merge) and applies the step; without it, it drops the record and remembers the
key as dropped (:func:`~.logstats.drop_step`).

One compaction per view runs at a time: it holds a lease on the kv store
(:mod:`skybridge.runtime.leases`), renewed at each step; another finds the view busy and skips
it. Rows are safe even without it (a compaction paused past its lease): a compaction deletes
only files it read whole, after writing a file with their rows under a key of its own; one that
finds its lease lost after writing its merged file deletes that file again only when the step
was recorded dropped (its inputs, or files merged from them, hold every row), and keeps it when
the step was settled (its inputs deleted), is still pending, or is not known any more.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from skybridge.apps.features.logstats import (
    begin_step,
    drop_step,
    pending_step,
    settle_step,
    was_dropped,
)
from skybridge.apps.features.mergedfile import (
    compacted_inputs,
    digest,
    encode,
    read_files,
    unique_rows,
)
from skybridge.apps.features.offline import COMPACTED, PARQUET
from skybridge.backends.kv import KeyValueStore
from skybridge.backends.objects import ObjectInfo, ObjectStore
from skybridge.core.errors import Conflict, NotFound
from skybridge.runtime.leases import Lease, LeaseManager

#: Files one merge step reads at most (their names are kept in the merged file's metadata).
MAX_INPUTS = 1000
#: kv prefix of the compaction leases, one per view (view names have no ``-``).
LEASE_PREFIX = "features/offline-log-compaction/"
#: Seconds a compaction holds its view's lease without renewing it (each step renews it).
LEASE_TTL = 600.0
DAY_FOLDER = "date="


class Tracker(Protocol):
    """Progress of a compaction, in files."""

    def planned(self, files: int) -> None:
        """``files`` more files are to be merged."""

    def merged(self, files: int) -> None:
        """``files`` more files were read into a merge."""


class _Quiet:
    def planned(self, files: int) -> None:
        pass

    def merged(self, files: int) -> None:
        pass


@dataclass
class Compaction:
    """What compacting one view's log did (with ``dry_run``: would do; rows then unknown)."""

    view: str
    dry_run: bool = False
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int | None = 0
    #: Files of the log merged (and, unless a dry run, deleted), their rows and bytes.
    merged_files: int = 0
    merged_rows: int | None = 0
    merged_bytes: int = 0
    #: Compacted files written (and left), their rows and bytes.
    written_files: int = 0
    written_rows: int | None = 0
    written_bytes: int | None = 0
    days: list[str] = field(default_factory=list)
    #: Another compaction holds the view: nothing was done.
    busy: bool = False
    #: An interrupted step settled first: ``finished`` (its inputs deleted) or ``dropped``.
    settled: str | None = None

    @property
    def duplicates(self) -> int | None:
        """Rows dropped as copies of another row of the same ``(source, offset)``."""
        if self.merged_rows is None or self.written_rows is None:
            return None
        return self.merged_rows - self.written_rows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"duplicates": self.duplicates}


@dataclass(frozen=True)
class LogFile:
    """One file of the log as listed: key, size, and when it was written (epoch seconds)."""

    key: str
    size: int
    written: float

    @property
    def name(self) -> str:
        return self.key.rpartition("/")[2]

    @property
    def is_part(self) -> bool:
        return self.name.startswith("part-")


def plan_day(
    files: list[LogFile], *, closed: bool, ready_before: float, target_bytes: int
) -> list[list[LogFile]]:
    """The groups of a day's files to merge, each into one file (see the module docstring)."""
    candidates = [
        f
        for f in sorted(files, key=lambda f: f.key)
        if f.written <= ready_before and (f.is_part or (closed and f.size < target_bytes // 2))
    ]
    groups: list[list[LogFile]] = []
    group: list[LogFile] = []
    size = 0
    for f in candidates:
        if group and (size + f.size > target_bytes or len(group) >= MAX_INPUTS):
            groups.append(group)
            group, size = [], 0
        group.append(f)
        size += f.size
    groups.append(group)
    return [g for g in groups if len(g) >= 2]


def compact_view(
    objects: ObjectStore,
    kv: KeyValueStore,
    view: str,
    prefix: str = "features/log",
    *,
    now: float | None = None,
    min_age: float = 600.0,
    target_bytes: int = 32 * 1024 * 1024,
    dry_run: bool = False,
    tracker: Tracker | None = None,
) -> Compaction:
    """Compact ``view``'s offline log (see the module docstring); ``dry_run`` plans only.

    Raises:
        Conflict: the view's lease was lost (this compaction was paused past it and another
            took the view over) or an input vanished mid-step; nothing is lost, and the next
            compaction settles what this one left.
    """
    run = _Run(objects, kv, view, prefix.strip("/"), tracker or _Quiet(), dry_run)
    now = time.time() if now is None else now
    if dry_run:
        run.compact(now, min_age, target_bytes)
        return run.report
    leases = LeaseManager(kv, prefix=LEASE_PREFIX)
    lease = leases.acquire(view, uuid.uuid4().hex[:12], LEASE_TTL)
    if lease is None:
        run.report.busy = True
        run.list_log()
        run.finish()
        return run.report
    run.leases, run.lease = leases, lease
    try:
        run.report.settled = settle_pending(objects, kv, view)
        run.compact(now, min_age, target_bytes)
    finally:
        leases.release(run.lease)
    return run.report


def settle_pending(objects: ObjectStore, kv: KeyValueStore, view: str) -> str | None:
    """Settle ``view``'s interrupted compaction step, if any: ``finished`` (its merged file
    exists: the inputs left are deleted and the step counted), ``dropped`` (it was never
    written) or ``None`` (nothing pending). Call it holding the view's lease."""
    step = pending_step(kv, view)
    if step is None:
        return None
    key = str(step["key"])
    try:
        merged = objects.head(key)
    except NotFound:
        drop_step(kv, view, key)
        # its writer, paused past its lease, may have written it between the look and the
        # drop, and then not found it dropped: it is counted nowhere and its inputs are all
        # still there, so it goes (the writer that finds it dropped deletes it too)
        objects.delete(key)
        return "dropped"
    folder = key.rpartition("/")[0]
    left = [
        f"{folder}/{name}"
        for name, merged_digest in compacted_inputs(objects, key)
        if _as_merged(objects, f"{folder}/{name}", merged_digest, merged)
    ]
    objects.delete_many(left)
    settle_step(kv, view, key)
    return "finished"


def _as_merged(
    objects: ObjectStore, key: str, merged_digest: str | None, merged: ObjectInfo
) -> bool:
    """Whether the input ``key`` is still there as it was merged. A part written again after
    the merge (a batch delivered again, its rows ingested anew) was counted anew: the next
    compaction merges it. Timestamps cannot tell (stores keep whole seconds): its digest can."""
    try:
        if merged_digest is None:  # merged before digests were recorded
            return objects.head(key).last_modified <= merged.last_modified
        return digest(objects.get(key)) == merged_digest
    except NotFound:
        return False


class _Run:
    """One compaction of one view: the listing, the steps and what they did."""

    def __init__(
        self,
        objects: ObjectStore,
        kv: KeyValueStore,
        view: str,
        prefix: str,
        tracker: Tracker,
        dry_run: bool,
    ) -> None:
        self.objects, self.kv, self.view, self.prefix = objects, kv, view, prefix
        self.tracker = tracker
        self.report = Compaction(view, dry_run=dry_run)
        self.leases: LeaseManager | None = None
        self.lease: Lease | None = None
        #: Files this run wrote: key -> (rows, bytes); merged again, they leave the report.
        self.outputs: dict[str, tuple[int | None, int]] = {}
        self._planned = itertools.count()

    @property
    def root(self) -> str:
        return f"{self.prefix}/{self.view}/"

    def list_log(self) -> dict[str, list[LogFile]]:
        """The view's files by day; sets the files and bytes before."""
        days: dict[str, list[LogFile]] = {}
        self.report.files_before = self.report.bytes_before = 0
        for entry in self.objects.list(self.root):
            if not isinstance(entry, ObjectInfo) or not entry.key.endswith(".parquet"):
                continue
            self.report.files_before += 1
            self.report.bytes_before += entry.size
            folder = entry.key[len(self.root) :].rpartition("/")[0]
            if folder.startswith(DAY_FOLDER) and "/" not in folder:
                found = LogFile(entry.key, entry.size, entry.last_modified.timestamp())
                days.setdefault(folder[len(DAY_FOLDER) :], []).append(found)
        return days

    def compact(self, now: float, min_age: float, target_bytes: int) -> None:
        today = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")
        for day, files in sorted(self.list_log().items()):
            self._compact_day(day, files, day < today, now - min_age, target_bytes)
        self.finish()

    def _compact_day(
        self, day: str, files: list[LogFile], closed: bool, ready_before: float, target: int
    ) -> None:
        """Merge until the day's plan is empty (each step leaves one file fewer at least)."""
        while groups := plan_day(
            files, closed=closed, ready_before=ready_before, target_bytes=target
        ):
            self.tracker.planned(sum(len(g) for g in groups))
            if day not in self.report.days:
                self.report.days.append(day)
            made = [self.simulate(g) if self.report.dry_run else self.merge(g) for g in groups]
            gone = {f.key for group in groups for f in group}
            files = [f for f in files if f.key not in gone] + made

    def finish(self) -> None:
        report = self.report
        report.written_files = len(self.outputs)
        rows = [r for r, _ in self.outputs.values()]
        report.written_rows = None if report.dry_run else sum(r or 0 for r in rows)
        written = sum(b for _, b in self.outputs.values())
        report.written_bytes = None if report.dry_run else written
        report.merged_rows = None if report.dry_run else report.merged_rows
        report.files_after = report.files_before - report.merged_files + report.written_files
        after = report.bytes_before - report.merged_bytes + written
        report.bytes_after = None if report.dry_run else after

    def _account(self, group: list[LogFile], rows: list[int] | None) -> None:
        """Count the inputs of a step, except this run's own outputs merged again."""
        for i, f in enumerate(group):
            if self.outputs.pop(f.key, None) is not None:
                continue
            self.report.merged_files += 1
            self.report.merged_bytes += f.size
            if rows is not None and self.report.merged_rows is not None:
                self.report.merged_rows += rows[i]

    def simulate(self, group: list[LogFile]) -> LogFile:
        self._account(group, None)
        self.tracker.merged(len(group))
        key = f"{group[0].key.rpartition('/')[0]}/{COMPACTED}planned-{next(self._planned)}.parquet"
        made = LogFile(key, sum(f.size for f in group), 0.0)
        self.outputs[key] = (None, made.size)
        return made

    def merge(self, group: list[LogFile]) -> LogFile:
        self._renew()
        keys = [f.key for f in group]
        table, rows, sizes, digests = read_files(self.objects, keys, self.tracker.merged)
        unique = unique_rows(table)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        key = f"{group[0].key.rpartition('/')[0]}/{COMPACTED}{stamp}-{uuid.uuid4().hex[:8]}.parquet"
        body = encode(unique, [f.name for f in group], digests)
        step = {
            "key": key,
            "files": 1 - len(group),
            "rows": unique.num_rows - sum(rows),
            "bytes": len(body) - sum(sizes),
        }
        begin_step(self.kv, self.objects, self.view, self.prefix, step)
        meta = {"rows": str(unique.num_rows), "inputs": str(len(group))}
        self.objects.put(key, body, content_type=PARQUET, metadata=meta)
        self._still_held(key)
        self.objects.delete_many(keys)
        settle_step(self.kv, self.view, key)
        read = [LogFile(f.key, size, f.written) for f, size in zip(group, sizes, strict=True)]
        self._account(read, rows)
        self.outputs[key] = (unique.num_rows, len(body))
        return LogFile(key, len(body), 0.0)  # ours: ready to merge again at once

    def _still_held(self, key: str) -> None:
        """Renew the lease before deleting anything; a compaction that lost it stops here.
        The one that took the view over settled the step if it found ``key`` written (and
        deleted the inputs: ``key`` holds their rows now), or dropped it, remembering so, if
        it found no ``key`` yet: then ``key`` is counted nowhere and is deleted again (its rows
        are all in its inputs, or in files merged from them before they were deleted). A step
        still pending, or whose drop is not remembered any more, leaves ``key``: kept, a file
        loses no row (it is at worst counted nowhere)."""
        try:
            self._renew()
        except Conflict:
            if was_dropped(self.kv, self.view, key):
                self.objects.delete(key)
            raise

    def _renew(self) -> None:
        if self.leases is not None and self.lease is not None:
            self.lease = self.leases.renew(self.lease, LEASE_TTL)

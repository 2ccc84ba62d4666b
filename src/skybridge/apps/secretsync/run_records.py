"""The records of reconcile runs, kept in the state kv store with a bounded history.

Keys: ``secretsync/runs/<run id>`` (JSON :class:`ReconcileRun`: status, times, progress and a
summary) and ``secretsync/run-reports/<run id>/<part>`` (the finished run's report as
compressed JSON, cut into parts so that a report of thousands of mappings fits any kv store's
value limit, DynamoDB's 400 KB included). Run ids start with their UTC start time, so the keys
sort oldest first. Only the newest :data:`KEEP_RUNS` runs are kept. No secret value is ever
stored: reports hold names, version ids and reasons, errors are scrubbed.
"""

from __future__ import annotations

import json
import re
import uuid
import zlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

from skybridge.backends.kv import KeyValueStore
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import NotFound
from skybridge.runtime.holders import describe

RUN_PREFIX = "secretsync/runs/"
REPORT_PREFIX = "secretsync/run-reports/"
#: Runs kept, newest first: older finished ones are removed when a run starts.
KEEP_RUNS = 20
#: Largest part of a stored report (smaller when the kv store allows less).
REPORT_PART = 256 * 1024
#: ``20260107T101500123456Z-3fa9c2``: the start time to the microsecond, then 6 hex digits.
RUN_ID = re.compile(r"^[0-9]{8}T[0-9]{12}Z-[0-9a-f]{6}$")
RunStatus = Literal["running", "succeeded", "failed", "abandoned"]
#: Statuses of a run that is over.
FINISHED = frozenset({"succeeded", "failed", "abandoned"})


def new_run_id(now: float) -> str:
    stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{stamp}Z-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ReconcileRun:
    """One reconcile run: what was asked, how far it got, how it ended (never a value)."""

    id: str
    status: RunStatus
    dry_run: bool
    full: bool
    mappings: list[str] | None
    #: What started it: ``api``, ``page``, ``schedule`` or ``cli``.
    trigger: str
    started_at: float
    #: The process running it (:func:`~skybridge.runtime.holders.this_process`).
    holder: str
    finished_at: float | None = None
    #: ``{"phase": "plan" | "apply" | "done", "done": n, "total": n}``: mappings so far.
    progress: dict[str, Any] = field(default_factory=dict)
    #: When finished: ``mappings``, ``changes``, ``writes``, ``errors``.
    summary: dict[str, int] | None = None
    error: str | None = None
    error_type: str | None = None
    report_parts: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReconcileRun:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def view(self, report: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the API and the page show: no holder name, the process described instead."""
        shown = asdict(self)
        shown.pop("holder")
        shown.pop("report_parts")
        shown["running_on"] = describe(self.holder)
        shown["report"] = report
        return shown


class RunRecords:
    """Reconcile run records and their reports in ``kv``."""

    def __init__(self, kv: KeyValueStore, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.kv = kv
        self.clock = clock

    def load(self, run_id: str) -> tuple[ReconcileRun, int] | None:
        """The run and its record's kv version, or ``None`` (unknown or pruned)."""
        if not RUN_ID.match(run_id):
            return None
        item = self.kv.get_item(RUN_PREFIX + run_id)
        if item is None:
            return None
        return ReconcileRun.from_json(json.loads(item.value)), item.version

    def get(self, run_id: str) -> ReconcileRun:
        """Raises :class:`NotFound` for an id no kept run has."""
        found = self.load(run_id)
        if found is None:
            raise NotFound(
                f"no reconcile run {run_id!r}",
                hint=f"the last {KEEP_RUNS} runs are kept; GET /api/secretsync/reconcile "
                "lists them",
            )
        return found[0]

    def save(self, run: ReconcileRun, *, expected: int | None = None) -> int:
        """Write ``run``; with ``expected``, only over that version (else :class:`Conflict`)."""
        raw = json.dumps(asdict(run), separators=(",", ":")).encode()
        if expected is None:
            return self.kv.put(RUN_PREFIX + run.id, raw)
        return self.kv.compare_and_set(RUN_PREFIX + run.id, raw, expected)

    def recent(self, limit: int = KEEP_RUNS) -> list[ReconcileRun]:
        """The kept runs, newest first."""
        keys = list(self.kv.keys(RUN_PREFIX))[-limit:] if limit > 0 else []
        found = self.kv.get_many(keys)
        runs = [ReconcileRun.from_json(json.loads(found[k])) for k in keys if k in found]
        return runs[::-1]

    def save_report(self, run: ReconcileRun, report: dict[str, Any]) -> ReconcileRun:
        """Store the report of ``run``; the run as it now records how many parts it has."""
        packed = zlib.compress(json.dumps(report, separators=(",", ":")).encode(), 6)
        size = max(1024, min(REPORT_PART, self.kv.max_value_size // 2))
        parts = [packed[i : i + size] for i in range(0, len(packed), size)] or [b""]
        self.kv.put_many({_part_key(run.id, n): part for n, part in enumerate(parts)})
        return replace(run, report_parts=len(parts))

    def report(self, run: ReconcileRun) -> dict[str, Any] | None:
        """The stored report of ``run`` (``None`` while it runs, or when it has none)."""
        if not run.report_parts:
            return None
        keys = [_part_key(run.id, n) for n in range(run.report_parts)]
        found = self.kv.get_many(keys)
        if len(found) != len(keys):
            return None  # pruned meanwhile
        report: dict[str, Any] = json.loads(zlib.decompress(b"".join(found[k] for k in keys)))
        return report

    def prune(
        self, keep: int = KEEP_RUNS, *, judge: Callable[[ReconcileRun], ReconcileRun] | None = None
    ) -> int:
        """Remove finished runs (and their reports) beyond the newest ``keep``; how many.

        An unfinished one is first given to ``judge`` (which records it abandoned when its
        process is gone) and kept only while it still runs.
        """
        keys = list(self.kv.keys(RUN_PREFIX))
        old = keys[: max(0, len(keys) - keep)]
        found = self.kv.get_many(old)
        gone = 0
        for key in old:
            if key not in found:
                continue
            run = ReconcileRun.from_json(json.loads(found[key]))
            if not run.finished and judge is not None:
                run = judge(run)
            if not run.finished:
                continue  # still running: kept until it ends
            self.drop_report(run.id, run.report_parts)
            self.kv.delete(key)
            gone += 1
        return gone

    def drop_report(self, run_id: str, counted: int = 0) -> None:
        """Remove the stored report of ``run_id``: the ``counted`` parts its record names,
        and any others (stored by a run whose end could not be recorded)."""
        known = [_part_key(run_id, n) for n in range(counted)]
        after = known[-1] if known else None
        others = self.kv.scan_prefix(f"{REPORT_PREFIX}{run_id}/", start_after=after)
        self.kv.delete_many([*known, *(item.key for item in others)])


def _part_key(run_id: str, part: int) -> str:
    return f"{REPORT_PREFIX}{run_id}/{part:04d}"

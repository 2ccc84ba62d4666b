"""Plain dicts for the CLI's ``--json``, the routes and the page (no row values, no secrets)."""

from __future__ import annotations

from typing import Any

from skybridge.apps.datasync.batchrecord import STEPS, BatchRecord
from skybridge.apps.datasync.catchup import SyncProgress
from skybridge.apps.datasync.config import DataSyncConfig
from skybridge.apps.datasync.service import DataSync
from skybridge.core.clock import duration_text, when
from skybridge.core.secret import scrub
from skybridge.core.urls import mask_url
from skybridge.runtime.scheduler import JobState


def seconds_text(seconds: float | None) -> str:
    """``85 ms`` / ``2.4 s`` / ``17 min`` / ``4.1 d`` / ``—``."""
    return "—" if seconds is None else duration_text(seconds)


def list_view(config: DataSyncConfig) -> dict[str, Any]:
    tables = [
        {"name": n, "key": t.key, "version": t.version, "columns": list(t.columns)}
        for n, t in config.tables.items()
    ]
    batches = [
        {
            "name": n,
            "table": b.table,
            "source": f"query on {mask_url(config.source) if config.source else 'the target'}"
            if b.query
            else f"CSV under {b.prefix}",
            "every": b.every,
        }
        for n, b in sorted(config.batches.items())
    ]
    return {"topic": config.topic, "tables": tables, "batches": batches}


def batch_view(record: BatchRecord) -> dict[str, Any]:
    steps = [
        {
            "name": s,
            "state": record.steps[s].state,
            "at": record.steps[s].at,
            "seconds": record.steps[s].seconds,
            "detail": record.steps[s].detail,
            "error": record.steps[s].error,
        }
        for s in STEPS
    ]
    return {
        "id": record.id,
        "name": record.name,
        "table": record.table,
        "window_start": record.window_start,
        "window_end": record.window_end,
        "state": record.state,
        "next_step": record.next_step,
        "rows": record.rows,
        "parts": len(record.parts),
        "error": record.error,
        "steps": steps,
        "updated_at": record.updated_at,
    }


def sync_view(progress: SyncProgress) -> dict[str, Any]:
    """A batch sync's watermark (``synced_through``, and as text), the complete windows after
    it (``behind``; ``None`` before the job first ran it) and the batch it waits on."""
    doc = progress.to_dict()
    doc["synced_through_text"] = when(progress.synced_through)
    return doc


def job_view(state: JobState) -> dict[str, Any]:
    """The batch job's last tick as the scheduler recorded it: ``status`` is ``never``,
    ``failed`` (with ``error``: which batches failed and why) or ``succeeded``."""
    error = None if state.last_error is None else scrub(state.last_error)
    status = "never" if state.last_run_at is None else "failed" if error else "succeeded"
    return {
        "status": status,
        "ran_at": state.last_run_at,
        "ran_text": when(state.last_run_at),
        "next_run": state.next_run,
        "error": error,
        "runs": state.runs,
        "failures": state.failures,
    }


def status_view(sync: DataSync) -> dict[str, Any]:
    tables = []
    for status in sync.status():
        doc = status.to_dict()
        doc["latency_p50_text"] = seconds_text(status.latency_p50)
        doc["latency_p95_text"] = seconds_text(status.latency_p95)
        tables.append(doc)
    letters = [x for x in sync.dead_letters() if not x.replayed]
    return {
        "tables": tables,
        "lag": sync.lag(),
        "dead_letters": len(letters),
        "batch_syncs": [sync_view(p) for p in sync.batch_syncs()],
        "batch_job": job_view(sync.batch_job()),
    }

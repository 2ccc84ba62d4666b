"""Plain dicts for the CLI's ``--json``, the routes and the page (no row values, no secrets)."""

from __future__ import annotations

from typing import Any

from skybridge.apps.datasync.batchrecord import STEPS, BatchRecord
from skybridge.apps.datasync.config import DataSyncConfig
from skybridge.apps.datasync.service import DataSync
from skybridge.core.clock import duration_text
from skybridge.core.urls import mask_url


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


def status_view(sync: DataSync) -> dict[str, Any]:
    tables = []
    for status in sync.status():
        doc = status.to_dict()
        doc["latency_p50_text"] = seconds_text(status.latency_p50)
        doc["latency_p95_text"] = seconds_text(status.latency_p95)
        tables.append(doc)
    letters = [x for x in sync.dead_letters() if not x.replayed]
    return {"tables": tables, "lag": sync.lag(), "dead_letters": len(letters)}

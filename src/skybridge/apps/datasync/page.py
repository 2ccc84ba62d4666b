"""The dashboard page ``/ui/datasync``: tables, latency, lag, dead letters, batch syncs (how far
each is synced, the batch job's last failure) and batches.

Forms POST (with the CSRF field) ``action=batch`` with ``name`` (run or resume that batch
sync's last window) or ``action=replay`` (every dead letter). Nothing is written on page load.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skybridge.apps.datasync.service import Context, DataSync, effective_config
from skybridge.apps.datasync.stream import PIPELINE
from skybridge.apps.datasync.views import batch_view, list_view, status_view
from skybridge.apps.kit.timefmt import ago
from skybridge.apps.kit.web import AppPage, page_errors, pipeline_charts
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)
PACKAGE = "skybridge.apps.datasync"
TEMPLATE = "datasync.html"
BATCHES_SHOWN = 12


def _values(sync: DataSync) -> dict[str, Any]:
    status = status_view(sync)
    for table in status["tables"]:
        table["synced"] = ago(table["last_synced_at"])
    batches = [batch_view(r) for r in sync.batches(BATCHES_SHOWN)]
    for batch in batches:
        batch["when"] = ago(batch["updated_at"])
    return {
        "status": status,
        "syncs": {p["name"]: p for p in status["batch_syncs"]},
        "batches": batches,
        "rows": sum(t["rows"] for t in status["tables"]),
        "failed": sum(1 for b in batches if b["state"] == "failed"),
    }


def _page(ctx: Context, **extra: Any) -> AppPage:
    values: dict[str, Any] = {"error": None, "hint": None, "result": None, "status": None}
    values |= {"declared": list_view(effective_config(ctx)), "batches": [], "rows": 0, "failed": 0}
    values["syncs"] = {}
    values["charts"] = pipeline_charts(PIPELINE)
    values.update(extra)
    with page_errors(values), DataSync.open(ctx) as sync:
        values.update(_values(sync))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context) -> AppPage:
    """GET ``/ui/datasync``."""
    return _page(ctx)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/datasync``: ``action`` is ``batch`` (with ``name``) or ``replay``."""
    action = form.get("action", "")
    try:
        if action == "batch":
            name = form.get("name", "")
            if name not in effective_config(ctx).batches:
                return _page(ctx, error=f"no batch sync called {name!r}")
            with DataSync.open(ctx) as sync:
                sync.create_tables()
                record = sync.run_batch(name)
            result: dict[str, Any] = {"kind": "batch", "batch": batch_view(record)}
        elif action == "replay":
            with DataSync.open(ctx) as sync:
                result = {"kind": "replay", "replayed": len(sync.replay())}
        else:
            return _page(ctx, error=f"unknown action {action!r}; use batch or replay")
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint)
    log.info("datasync.dashboard_action", action=action)
    return _page(ctx, result=result)

"""The dashboard page ``/ui/secretsync``: every mapping's sync state, actions, recent writes.

Buttons POST (with the CSRF field) ``action=plan`` (reconcile, dry run), ``reconcile`` or
``replay`` (all dead letters); the result is shown above the table. Nothing runs on page load
apart from reading state from the kv store (no calls to the secret stores).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skybridge.apps.kit.timefmt import ago
from skybridge.apps.kit.web import AppPage, Column, Table, page_errors, pipeline_charts
from skybridge.apps.secretsync.letters import list_letters, replay_letters
from skybridge.apps.secretsync.pipeline import PIPELINE_NAME
from skybridge.apps.secretsync.service import Context, SecretSyncService, open_service
from skybridge.apps.secretsync.views import audit_view, status_views
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger

log = get_logger(__name__)
PACKAGE = "skybridge.apps.secretsync"
TEMPLATE = "secretsync.html"
AUDIT_SHOWN = 15
ACTIONS = {"plan", "reconcile", "replay"}
LETTER_COLUMNS = (
    Column("id", "Letter", code=True),
    Column("store", "Store"),
    Column("mapping", "Mapping"),
    Column("secret", "Secret", code=True),
    Column("reason", "Reason", css="small"),
)


def lag_text(seconds: float | None) -> str | None:
    """``85 ms`` / ``2.4 s`` / ``3.0 min``."""
    if seconds is None:
        return None
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _rows(svc: SecretSyncService) -> dict[str, Any]:
    letters = [x.to_dict() for x in list_letters(svc)]
    rows = status_views(svc)
    for row in rows:
        row["synced"] = ago(row["synced_at"])
        row["error_when"] = ago(row["last_error_at"])
        row["lag"] = lag_text(row["lag_seconds"])
    audit = [audit_view(r) | {"when": ago(r.at)} for r in svc.engine.audit_log(None, AUDIT_SHOWN)]
    return {
        "mappings": rows,
        "audit": audit,
        "letters": letters,
        "letters_table": Table(LETTER_COLUMNS, letters, name="letters"),
        "table_source": svc.table_source,
        "in_sync": sum(1 for r in rows if r["drift"] == "in-sync"),
        "drifted": sum(1 for r in rows if r["drift"] not in {"in-sync", "unknown"}),
    }


def _page(ctx: Context, **extra: Any) -> AppPage:
    values: dict[str, Any] = {"mappings": [], "audit": [], "letters": [], "error": None}
    values |= {"result": None, "notice": None, "charts": pipeline_charts(PIPELINE_NAME)}
    values.update(extra)
    with page_errors(values), open_service(ctx) as svc:
        values.update(_rows(svc))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context) -> AppPage:
    """GET ``/ui/secretsync``."""
    return _page(ctx)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/secretsync``: ``action`` is ``plan``, ``reconcile`` or ``replay``."""
    action = form.get("action", "")
    if action not in ACTIONS:
        return _page(ctx, error=f"unknown action {action!r}; use plan, reconcile or replay")
    try:
        with open_service(ctx) as svc:
            if action == "replay":
                replayed = [r.to_dict() for r in replay_letters(svc, None)]
                result: dict[str, Any] = {"kind": "replay", "replayed": replayed}
            else:
                report = svc.engine.reconcile(dry_run=action == "plan").to_dict()
                result = {"kind": action, "report": report}
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint)
    log.info("secretsync.dashboard_action", action=action)
    return _page(ctx, result=result)

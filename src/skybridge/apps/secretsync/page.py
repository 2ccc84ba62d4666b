"""The dashboard page ``/ui/secretsync``: the mappings' sync state, actions, recent writes.

Buttons POST (with the CSRF field) ``action=plan`` (reconcile, dry run), ``reconcile`` or
``replay`` (all dead letters); the result is shown above the table. The search is a GET,
``/ui/secretsync?q=TEXT``: the mappings whose name, source or target contains it (a link to keep;
the posted ``action=find`` does the same, and the other actions keep ``q``). Nothing runs on
page load apart from reading state from the kv store (no calls to the secret stores).

Every list is bounded, whatever the size of the table: at most :data:`MAPPINGS_SHOWN` mappings
(those needing attention first), :data:`ROWS_SHOWN` plan actions, replay results and dead
letters (errors and changes first), each with a note of how many more there are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
MAPPINGS_SHOWN = 50
ROWS_SHOWN = 50
#: Longest search text taken from the form.
QUERY_MAX = 200
ACTIONS = {"plan", "reconcile", "replay", "find"}
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


def _needs_attention(row: Mapping[str, Any]) -> bool:
    return bool(
        row["drift"] not in {"in-sync", "unknown"} or row["last_error"] or row["dead_letters"]
    )


def _matches(row: Mapping[str, Any], query: str) -> bool:
    words = query.lower()
    return any(words in str(row[key]).lower() for key in ("name", "source", "target"))


def _mapping_rows(rows: list[dict[str, Any]], query: str) -> dict[str, Any]:
    """The rows shown (those found by ``query``, needing attention first) and the counts."""
    found = [r for r in rows if _matches(r, query)] if query else rows
    shown = sorted(found, key=lambda r: not _needs_attention(r))[:MAPPINGS_SHOWN]
    for row in shown:
        row["synced"] = ago(row["synced_at"])
        row["error_when"] = ago(row["last_error_at"])
        row["lag"] = lag_text(row["lag_seconds"])
    return {
        "mappings": shown,
        "mapping_count": len(rows),
        "found_count": len(found),
        "more_mappings": len(found) - len(shown),
    }


def _rows(svc: SecretSyncService, query: str) -> dict[str, Any]:
    letters = [x.to_dict() for x in list_letters(svc)]
    rows = status_views(svc)
    audit = [audit_view(r) | {"when": ago(r.at)} for r in svc.engine.audit_log(None, AUDIT_SHOWN)]
    return _mapping_rows(rows, query) | {
        "audit": audit,
        "letter_count": len(letters),
        "more_letters": max(0, len(letters) - ROWS_SHOWN),
        "letters_table": Table(LETTER_COLUMNS, letters[:ROWS_SHOWN], name="letters"),
        "table_source": svc.table_source,
        "in_sync": sum(1 for r in rows if r["drift"] == "in-sync"),
        "drifted": sum(1 for r in rows if r["drift"] not in {"in-sync", "unknown"}),
    }


def _page(ctx: Context, query: str = "", **extra: Any) -> AppPage:
    values: dict[str, Any] = {"mappings": [], "audit": [], "letter_count": 0, "error": None}
    values |= {"mapping_count": 0, "found_count": 0, "more_mappings": 0, "query": query}
    values |= {"result": None, "notice": None, "charts": pipeline_charts(PIPELINE_NAME)}
    values.update(extra)
    with page_errors(values), open_service(ctx) as svc:
        values.update(_rows(svc, query))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context, query: Mapping[str, str] | None = None) -> AppPage:
    """GET ``/ui/secretsync`` (``?q=``: mappings whose name, source or target contain it)."""
    return _page(ctx, (query or {}).get("q", "").strip()[:QUERY_MAX])


def _first(rows: list[dict[str, Any]], rank: Callable[[dict[str, Any]], int]) -> dict[str, Any]:
    """At most :data:`ROWS_SHOWN` of ``rows``, lowest ``rank`` first, and how many are left."""
    ordered = sorted(rows, key=rank)
    return {"shown": ordered[:ROWS_SHOWN], "total": len(rows), "more": len(rows) - ROWS_SHOWN}


def _plan_rank(action: dict[str, Any]) -> int:
    return 0 if action["action"] == "error" else 1 if action["writes"] else 2


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/secretsync``: ``action`` is ``plan``, ``reconcile``, ``replay`` or ``find``
    (with the search text ``q``, which the other actions keep too)."""
    action = form.get("action", "")
    query = form.get("q", "").strip()[:QUERY_MAX]
    if action not in ACTIONS:
        known = "plan, reconcile, replay or find"
        return _page(ctx, query, error=f"unknown action {action!r}; use {known}")
    if action == "find":
        return _page(ctx, query)
    try:
        with open_service(ctx) as svc:
            if action == "replay":
                replayed = [r.to_dict() for r in replay_letters(svc, None)]
                failed = [r for r in replayed if not r["ok"]]
                shown = _first(replayed, lambda r: 1 if r["ok"] else 0)
                result: dict[str, Any] = {"kind": "replay", "replayed": shown, "failed": failed}
            else:
                report = svc.engine.reconcile(dry_run=action == "plan").to_dict()
                actions = _first(report["plan"]["actions"], _plan_rank)
                result = {"kind": action, "report": report, "actions": actions}
    except SkybridgeError as exc:
        return _page(ctx, query, error=exc.message, hint=exc.hint)
    log.info("secretsync.dashboard_action", action=action)
    return _page(ctx, query, result=result)

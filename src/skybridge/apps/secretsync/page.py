"""The dashboard page ``/ui/secretsync``: the mappings' sync state, actions, recent writes.

Buttons POST (with the CSRF field) ``action=plan`` (reconcile, dry run), ``reconcile`` or
``replay`` (all dead letters); the result is shown above the table. ``reconcile`` starts a
background run (:mod:`.runs`) and shows it: finished if it finishes within
:data:`RUN_WAIT_S`, else running, with its progress, on ``/ui/secretsync?run=<id>``, which
reloads itself every :data:`RUN_REFRESH_S` seconds until the run is over. Without a result to
show, the page shows the last reconcile run. The search is a GET, ``/ui/secretsync?q=TEXT``:
the mappings whose name, source or target contains it (a link to keep; the posted
``action=find`` does the same, and the other actions keep ``q``). Nothing runs on page load
apart from reading state from the kv store (no calls to the secret stores).

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
from skybridge.apps.secretsync.run_records import ReconcileRun
from skybridge.apps.secretsync.runs import ReconcileRuns, RunBusy, start_background
from skybridge.apps.secretsync.service import (
    Context,
    NoMappingTable,
    SecretSyncService,
    build_service,
    connect_state,
    open_service,
)
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
#: How long a reconcile started from the page is waited for before the page shows it running.
RUN_WAIT_S = 2.0
#: Seconds between reloads of a page showing a running reconcile.
RUN_REFRESH_S = 3
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


def run_result(runs: ReconcileRuns, run: ReconcileRun, notice: str | None = None) -> dict[str, Any]:
    """A reconcile run as the page's result: the run, and once it succeeded its report with
    the plan actions shown (errors and writes first)."""
    shown = _with_times(run, runs.view(run))
    result: dict[str, Any] = {"kind": "run", "run": shown, "notice": notice}
    result["refresh"] = RUN_REFRESH_S if not run.finished else None
    if shown["report"] is not None:
        result["report"] = shown["report"]
        result["actions"] = _first(shown["report"]["plan"]["actions"], _plan_rank)
    return result


def _with_times(run: ReconcileRun, shown: dict[str, Any]) -> dict[str, Any]:
    """``shown`` (the run's view) with when it started and finished, as the page says it."""
    shown["started"] = ago(run.started_at)
    shown["finished"] = ago(run.finished_at) if run.finished_at else None
    return shown


def _last_run(svc: SecretSyncService) -> dict[str, Any] | None:
    found = ReconcileRuns(svc.state).recent(1)
    return _with_times(found[0], found[0].view()) if found else None


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
        "last_run": _last_run(svc),
    }


def _page(ctx: Context, query: str = "", **extra: Any) -> AppPage:
    values: dict[str, Any] = {"mappings": [], "audit": [], "letter_count": 0, "error": None}
    values |= {"mapping_count": 0, "found_count": 0, "more_mappings": 0, "query": query}
    values |= {"result": None, "notice": None, "charts": pipeline_charts(PIPELINE_NAME)}
    values |= {"last_run": None}
    values.update(extra)
    with page_errors(values):
        try:
            with open_service(ctx) as svc:
                values.update(_rows(svc, query))
        except NoMappingTable as exc:  # a fresh install: an empty state, not an error
            values["no_table"] = exc.hint
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context, query: Mapping[str, str] | None = None) -> AppPage:
    """GET ``/ui/secretsync`` (``?q=``: mappings whose name, source or target contain it;
    ``?run=``: that reconcile run, as the result)."""
    query = query or {}
    text = query.get("q", "").strip()[:QUERY_MAX]
    run_id = query.get("run", "").strip()
    if not run_id:
        return _page(ctx, text)
    try:
        with connect_state(ctx) as state:
            runs = ReconcileRuns(state)
            result = run_result(runs, runs.get(run_id))
    except SkybridgeError as exc:
        return _page(ctx, text, error=exc.message, hint=exc.hint)
    return _page(ctx, text, result=result)


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
    if action == "reconcile":
        return _reconcile(ctx, query)
    try:
        with open_service(ctx) as svc:
            if action == "replay":
                replayed = [r.to_dict() for r in replay_letters(svc, None)]
                failed = [r for r in replayed if not r["ok"]]
                shown = _first(replayed, lambda r: 1 if r["ok"] else 0)
                result: dict[str, Any] = {"kind": "replay", "replayed": shown, "failed": failed}
            else:
                report = svc.engine.reconcile(dry_run=True).to_dict()
                actions = _first(report["plan"]["actions"], _plan_rank)
                result = {"kind": action, "report": report, "actions": actions}
    except SkybridgeError as exc:
        return _page(ctx, query, error=exc.message, hint=exc.hint)
    log.info("secretsync.dashboard_action", action=action)
    return _page(ctx, query, result=result)


def _reconcile(ctx: Context, query: str) -> AppPage:
    """Start a background run (or find the one going) and show it; a run that finishes
    within :data:`RUN_WAIT_S` is shown finished."""
    notice = None
    try:
        svc = build_service(ctx)
        try:
            started = start_background(svc, trigger="page")
        except BaseException:
            svc.close()  # on success the run's thread closes it
            raise
    except RunBusy as busy:
        run_id, notice = busy.run_id, f"A reconcile was already running: {busy.message}."
    except SkybridgeError as exc:
        return _page(ctx, query, error=exc.message, hint=exc.hint)
    else:
        started.thread.join(RUN_WAIT_S)
        run_id = started.run.id
    log.info("secretsync.dashboard_action", action="reconcile", run=run_id)
    values: dict[str, Any] = {}
    with page_errors(values), connect_state(ctx) as state:
        runs = ReconcileRuns(state)
        values["result"] = run_result(runs, runs.get(run_id), notice)
    return _page(ctx, query, **values)

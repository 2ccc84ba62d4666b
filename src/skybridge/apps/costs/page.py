"""The dashboard page ``/ui/costs``: spend of the last 30 days with data, charts (trend with
forecast band, top services, untagged share), budgets, anomalies, tag compliance and the
remediation plan.

Forms POST ``action=plan`` (remediation dry run), ``remediate`` (apply it, once confirmed),
``ingest`` (the report bucket) or ``alert`` (budget alerts), each with the CSRF field; the
manifest maps each to its scope. The charts and tables are the app kit's components.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from skybridge.apps.costs.api import Context, Costs, open_costs
from skybridge.apps.costs.page_charts import services_table, trend_plot, untagged_table
from skybridge.apps.kit.web import PLAN_FIELD, AppPage, Confirmation, page_actor, page_errors
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.core.words import counted

log = get_logger(__name__)
PACKAGE = "skybridge.apps.costs"
TEMPLATE = "costs.html"
ACTIONS = ("plan", "remediate", "ingest", "alert")


def _view(costs: Costs) -> dict[str, Any]:
    period = costs.period(None, None)
    report = costs.report(period)
    compliance = costs.tags(period).to_dict()
    forecast = costs.forecast(period.end).to_dict()
    has_rows = bool(report["total"]["rows"])
    return {
        "report": report,
        "compliance": compliance,
        "forecast": forecast,
        "budgets": [s.to_dict() for s in costs.budgets(period.end)[0]],
        "anomalies": [a.to_dict() for a in costs.anomalies(period)][:10],
        "trend": trend_plot(report, forecast) if has_rows else None,
        "services": services_table(report) if has_rows else None,
        "untagged": untagged_table(compliance) if has_rows else None,
        "files": len(costs.store.ledger.files()),
        "audit": costs.store.ledger.audit_log(10),
    }


def _page(ctx: Context, **extra: Any) -> AppPage:
    values: dict[str, Any] = {"error": None, "hint": None, "result": None, "report": None}
    values.update(extra)
    with page_errors(values), open_costs(ctx) as costs:
        values.update(_view(costs))
    return AppPage(PACKAGE, TEMPLATE, values)


def render_page(ctx: Context) -> AppPage:
    """GET ``/ui/costs``."""
    return _page(ctx)


def handle_action(ctx: Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/costs``: ``action`` is plan, remediate, ingest or alert."""
    action = form.get("action", "")
    if action not in ACTIONS:
        return _page(ctx, error=f"unknown action {action!r}; use {', '.join(ACTIONS)}")
    try:
        with open_costs(ctx) as costs:
            agreed = form.get(PLAN_FIELD) or None
            result = _act(costs, action, agreed=agreed, actor=page_actor(form))
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint)
    log.info("costs.dashboard_action", action=action)
    return _page(ctx, result=result)


def confirm_action(ctx: Context, form: Mapping[str, str]) -> Confirmation | None:
    """The question ``remediate`` is confirmed with, from the plan as it stands: it acts on
    the instances themselves. The plan's digest goes back with the form, so an apply that
    would do other things than those asked about is refused. Every other action runs at
    once, as does a plan with nothing to do."""
    if form.get("action") != "remediate":
        return None
    try:
        with open_costs(ctx) as costs:
            plan, _ = costs.remediate(approve=False)
    except SkybridgeError:
        return Confirmation("Apply the remediation plan? It changes the instances themselves.")
    if not plan.actions:
        return None
    per_action = Counter(a.action for a in plan.actions)
    parts = [f"{action} {counted(n, 'instance')}" for action, n in sorted(per_action.items())]
    fleets = sorted({a.fleet for a in plan.actions})
    where = f"fleet{'s' if len(fleets) > 1 else ''} {_joined([repr(f) for f in fleets])}"
    question = (
        f"Apply the remediation plan: {_joined(parts)} in {where}? This changes the "
        "instances now; every action is audited."
    )
    return Confirmation(question, {PLAN_FIELD: plan.digest()})


def _joined(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _act(
    costs: Costs, action: str, agreed: str | None = None, actor: str | None = None
) -> dict[str, Any]:
    if action == "ingest":
        files = [r.to_dict() for r in costs.ingest_bucket()]
        return {"kind": "ingest", "files": files}
    if action == "alert":
        return {"kind": "alert", "sent": costs.budgets(alert=True)[1]}
    plan, outcomes = costs.remediate(approve=action == "remediate", agreed=agreed, actor=actor)
    return {"kind": action, "outcomes": [o.to_dict() for o in outcomes], "skipped": plan.skipped}

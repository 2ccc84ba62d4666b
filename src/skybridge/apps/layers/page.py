"""The dashboard page ``/ui/layers``: builds, findings, versions in use, rollouts.

Forms POST (with the CSRF field) ``action=plan-prune`` or ``prune`` with a ``layer``, and
``advance`` or ``rollback`` with a ``function`` and ``alias``; ``prune`` and ``rollback`` ask
for a confirmation first. The result shows above the tables. Loading the page reads the kv
store and the function platform only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skybridge.apps.kit.web import (
    PLAN_FIELD,
    AppPage,
    Column,
    Confirmation,
    Table,
    api_charts,
    page_errors,
    plan_digest,
)
from skybridge.apps.layers import api
from skybridge.apps.layers.cli_views import mb
from skybridge.apps.layers.scan import UNCHECKED
from skybridge.core.errors import SkybridgeError
from skybridge.core.observability import get_logger
from skybridge.core.words import counted

log = get_logger(__name__)
PACKAGE = "skybridge.apps.layers"
BUILD_COLUMNS = (
    Column("name", "Layer"),
    Column("target", "Target"),
    Column("zipped", "Zipped", numeric=True),
    Column("unzipped", "Unzipped", numeric=True),
    Column("packages", "Packages", numeric=True),
    Column("smoke", "Smoke test"),
    Column("status", "Status", css="small"),
)
FINDING_COLUMNS = (
    Column("id", "Advisory", code=True),
    Column("layer", "Layer"),
    Column("package", "Package"),
    Column("severity", "Severity"),
    Column("fix", "Fix", css="small"),
    Column("summary", "Summary", css="small"),
)
USAGE_COLUMNS = (
    Column("layer", "Layer"),
    Column("version", "Version", numeric=True),
    Column("size", "Zipped", numeric=True),
    Column("users", "Used by", css="small"),
)


def _build_row(r: dict[str, Any]) -> dict[str, Any]:
    smoke = r.get("smoke") or {}
    word = (
        {True: "passed", False: "failed", None: "not run"}[smoke.get("passed")]
        if smoke
        else "not run"
    )
    return {
        "name": r["name"],
        "target": f"{r['runtime']}/{r['architecture']}",
        "zipped": mb(r["zipped"]),
        "unzipped": mb(r["unzipped"]),
        "packages": len(r["packages"]),
        "smoke": word,
        "status": "may ship" if r["passed"] else "; ".join(r["problems"]),
    }


def _findings(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**f, "layer": r["name"], "package": f"{f['package']} {f['version']}"}
        for r in records
        for f in (r.get("scan") or {}).get("findings", [])
    ]


def _content(ctx: api.Context) -> dict[str, Any]:
    records = api.builds(ctx)
    usage = api.usage(ctx)
    rows = [
        {**u, "size": mb(u["code_size"]), "users": ", ".join(u["users"]) or "unused"} for u in usage
    ]
    findings = _findings(records)
    return {
        "builds": Table(
            BUILD_COLUMNS,
            [_build_row(r) for r in records],
            empty="No layer built yet.",
            name="builds",
        ),
        "findings": Table(FINDING_COLUMNS, findings, empty="No findings.", name="findings"),
        "scan_notes": sorted(
            {f"{r['name']}: {n}" for r in records for n in (r.get("scan") or {}).get("notes", [])}
        ),
        "usage": Table(USAGE_COLUMNS, rows, empty="No layer published yet.", name="usage"),
        "rollouts": [r.to_dict() for r in api.list_rollouts(ctx)],
        "layer_names": sorted({u["layer"] for u in usage}),
        "stats": {
            "layers": len(records),
            "versions": len(usage),
            "failing": sum(1 for r in records if not r["passed"]),
            # a build scanned without an advisory database may ship a known vulnerability
            "unchecked": sum(
                1 for r in records if UNCHECKED in (r.get("scan") or {}).get("notes", [])
            ),
            "rolling": sum(1 for r in api.list_rollouts(ctx) if r.status == "rolling"),
        },
    }


def _page(ctx: api.Context, **extra: Any) -> AppPage:
    values: dict[str, Any] = {"error": None, "result": None, "charts": api_charts("layers")}
    values["scan_notes"] = []
    values.update(extra)
    with page_errors(values):
        values.update(_content(ctx))
    return AppPage(PACKAGE, "layers.html", values)


def render_page(ctx: api.Context) -> AppPage:
    """GET ``/ui/layers``."""
    return _page(ctx)


def confirm_action(ctx: api.Context, form: Mapping[str, str]) -> Confirmation | None:
    """The question ``prune`` and ``rollback`` are confirmed with: what they will delete or
    move, as things stand (a prune carries the versions asked about back, and deletes only
    if they are still what it would delete). A form that cannot be planned runs at once and
    reports why."""
    action = form.get("action", "")
    try:
        if action == "prune":
            layer = form.get("layer", "")
            plan = api.prune(ctx, layer, dry_run=True)
            if not plan.deleted:
                return None
            versions = ", ".join(str(v) for v in plan.deleted)
            question = (
                f"Delete {counted(len(plan.deleted), 'version')} of layer {layer!r} "
                f"({versions})? No function uses them, and a deleted layer version cannot "
                "be restored."
            )
            return Confirmation(question, {PLAN_FIELD: plan_digest(plan.deleted)})
        if action == "rollback":
            function, alias = form.get("function", ""), form.get("alias", "live")
            rollout = next(
                (r for r in api.list_rollouts(ctx) if (r.function, r.alias) == (function, alias)),
                None,
            )
            if rollout is None:
                return None
            return Confirmation(
                f"Roll back {function}:{alias}? All of its traffic goes back to version "
                f"{rollout.base} now, and the rollout of {rollout.layer} ends."
            )
    except SkybridgeError:
        return None
    return None


def handle_action(ctx: api.Context, form: Mapping[str, str]) -> AppPage:
    """POST ``/ui/layers``."""
    action = form.get("action", "")
    try:
        if action == "prune" and form.get(PLAN_FIELD):
            planned = api.prune(ctx, form.get("layer", ""), dry_run=True)
            if plan_digest(planned.deleted) != form[PLAN_FIELD]:
                return _page(
                    ctx,
                    error="The versions to delete changed after they were shown; nothing "
                    "was deleted.",
                    hint="plan the prune again and confirm what it shows",
                )
        if action in ("plan-prune", "prune"):
            plan = api.prune(ctx, form.get("layer", ""), dry_run=action == "plan-prune")
            result: dict[str, Any] = {"kind": action, **plan.to_dict()}
        elif action in ("advance", "rollback"):
            run = api.advance_rollout if action == "advance" else api.roll_back
            result = {
                "kind": action,
                **run(ctx, form.get("function", ""), form.get("alias", "live")).to_dict(),
            }
        else:
            return _page(
                ctx, error=f"unknown action {action!r}; use plan-prune, prune, advance or rollback"
            )
    except SkybridgeError as exc:
        return _page(ctx, error=exc.message, hint=exc.hint)
    log.info("layers.dashboard_action", action=action)
    return _page(ctx, result=result)

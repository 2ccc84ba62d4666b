"""``skybridge costs tags | budgets | forecast | anomalies | remediate | audit``: governance."""

from __future__ import annotations

from typing import Annotated

import typer

from skybridge.apps.costs.cli_common import (
    AsOf,
    From,
    To,
    costs,
    costs_app,
    money,
    out,
    parse_day,
    share,
)
from skybridge.apps.kit.cli import EXIT_FAILED, Json, emit_json, result_table, styled
from skybridge.core.clock import when


@costs_app.command()
def tags(ctx: typer.Context, start: From = None, end: To = None, json_output: Json = False) -> None:
    """Tag policy compliance: untagged and invalid spend by provider, account, service..."""
    with costs(ctx) as app:
        report = app.tags(app.period(parse_day(start, "--from"), parse_day(end, "--to"))).to_dict()
    if json_output:
        emit_json(report)
        return
    console = out(ctx)
    console.print(
        f"taggable spend {money(report['taggable_cost'])}: "
        f"untagged {share(report['untagged_share'])}, invalid {share(report['invalid_share'])}, "
        f"compliant {share(report['compliant_share'])}"
    )
    for dimension, rows in report["by"].items():
        table = result_table(
            f"Non-compliant spend by {dimension}", dimension, "spend", "non-compliant", "share"
        )
        for r in rows:
            table.add_row(
                str(r["value"]),
                money(r["cost"]),
                money(r["noncompliant_cost"]),
                share(r["noncompliant_share"]),
            )
        console.print(table)
    worst = result_table("Worst offenders", "resource", "provider", "service", "status", "spend")
    for r in report["worst_offenders"]:
        worst.add_row(
            str(r["resource"]),
            str(r["provider"]),
            str(r["service"]),
            r["status"],
            money(r["cost"]),
        )
    console.print(worst)


@costs_app.command()
def budgets(
    ctx: typer.Context,
    as_of: AsOf = None,
    alert: Annotated[
        bool,
        typer.Option(
            "--alert", help="Send alerts for newly crossed thresholds (once per incident)."
        ),
    ] = False,
    json_output: Json = False,
) -> None:
    """Month-to-date spend and month-end forecasts against each budget."""
    with costs(ctx) as app:
        statuses, sent = app.budgets(parse_day(as_of, "--as-of"), alert=alert)
    if json_output:
        emit_json({"budgets": [s.to_dict() for s in statuses], "alerts_sent": sent})
        return
    table = result_table(
        "Budgets", "budget", "scope", "budget", "month to date", "forecast", "crossed"
    )
    for s in statuses:
        d = s.to_dict()
        scope = "all" if d["dimension"] == "total" else f"{d['dimension']}={d['value']}"
        crossed = ", ".join(f"{c['kind']} {c['threshold']:.0%}" for c in d["crossed"]) or "—"
        table.add_row(
            d["name"],
            scope,
            money(d["amount"]),
            f"{money(d['actual'])} ({share(d['actual_share'])})",
            f"{money(d['forecast'])} ({share(d['forecast_share'])})",
            crossed,
        )
    out(ctx).print(table if statuses else "No budgets: add [[costs.budgets]] to skybridge.toml.")
    for alert_sent in sent:
        out(ctx).print(f"alert sent: {alert_sent['incident']}")


@costs_app.command()
def forecast(
    ctx: typer.Context,
    as_of: AsOf = None,
    dimension: Annotated[
        str | None,
        typer.Option(help="provider, account, compartment, service, region or tag:<key>"),
    ] = None,
    value: Annotated[str | None, typer.Option(help="The dimension's value.")] = None,
    json_output: Json = False,
) -> None:
    """The month-end forecast: OCI's run rate and the seasonal model with its 90% band."""
    with costs(ctx) as app:
        result = app.forecast(parse_day(as_of, "--as-of"), dimension, value).to_dict()
    if json_output:
        emit_json(result)
        return
    out(ctx).print(
        f"{result['month']} as of {result['as_of']}: "
        f"month to date {money(result['month_to_date'])}; "
        f"month end {money(result['forecast_month_end'])} ({result['method']}, 90% band "
        f"{money(result['low'])}..{money(result['high'])}); "
        f"run rate {money(result['run_rate_month_end'])}"
    )


@costs_app.command()
def anomalies(
    ctx: typer.Context,
    start: From = None,
    end: To = None,
    dimension: Annotated[
        str | None, typer.Option(help="Dimension to watch (default costs.anomaly_dimension).")
    ] = None,
    json_output: Json = False,
) -> None:
    """Days whose cost broke the seasonal baseline, with dollar impact and what drove them."""
    with costs(ctx) as app:
        found = [
            a.to_dict()
            for a in app.anomalies(
                app.period(parse_day(start, "--from"), parse_day(end, "--to")), dimension
            )
        ]
    if json_output:
        emit_json(found)
        return
    table = result_table(
        "Anomalies", "day", "value", "actual", "expected", "impact", "top contributor"
    )
    for a in found:
        top = a["contributors"][0] if a["contributors"] else None
        who = f"{top['service']} {top['resource']}" if top else "—"
        table.add_row(
            a["day"],
            a["value"],
            money(a["actual"]),
            money(a["expected"]),
            money(a["impact"]),
            who,
        )
    out(ctx).print(table if found else "No anomalies.")


@costs_app.command()
def remediate(
    ctx: typer.Context,
    approve: Annotated[
        bool, typer.Option("--approve", help="Apply the plan (default: dry run, nothing changes).")
    ] = False,
    json_output: Json = False,
) -> None:
    """Plan remediation (off-hours stop, cost_alerted tags, idle instances); --approve applies."""
    with costs(ctx) as app:
        plan, outcomes = app.remediate(approve=approve)
    if json_output:
        emit_json(
            {
                "dry_run": not approve,
                "plan": plan.to_dict(),
                "outcomes": [o.to_dict() for o in outcomes],
            }
        )
    else:
        title = (
            "Remediation plan (dry run: nothing changed; --approve applies it)"
            if not approve
            else "Remediation"
        )
        table = result_table(title, "instance", "fleet", "policy", "action", "reason", "outcome")
        for o in outcomes:
            a = o.action
            table.add_row(
                a.name,
                a.fleet,
                a.policy,
                a.action,
                a.reason,
                f"{o.outcome} {o.detail}".strip(),
            )
        out(ctx).print(table if outcomes else "Nothing to do.")
        for skipped in plan.skipped:
            out(ctx).print(styled("[yellow]skipped[/] {}", skipped))
    if any(o.outcome == "failed" for o in outcomes):
        raise typer.Exit(EXIT_FAILED)


@costs_app.command()
def audit(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Newest records shown.")] = 50,
    json_output: Json = False,
) -> None:
    """Remediation actions applied, newest first."""
    with costs(ctx) as app:
        records = app.store.ledger.audit_log(limit)
    if json_output:
        emit_json(records)
        return
    table = result_table(
        "Remediation audit", "when", "actor", "policy", "action", "instance", "outcome", "detail"
    )
    for r in records:
        table.add_row(
            when(r["at"]),
            r["actor"],
            r["policy"],
            r["action"],
            r["target"],
            r["outcome"],
            r["detail"],
        )
    out(ctx).print(table)

"""``skybridge costs ...``: ingest, report, tags, budgets, forecast, anomalies, remediate.

Exit codes: 0 ok; 1 a file had rejected rows, an alert could not be sent or a remediation
action failed; 2 bad input (a date, a dimension, a file that is no known export, a setting).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from skybridge.apps.costs.api import Costs, open_costs
from skybridge.apps.costs.ingest import FileResult
from skybridge.apps.costs.report import csv_lines
from skybridge.apps.kit.cli import (
    EXIT_FAILED,
    Json,
    app_context,
    cli_session,
    emit_json,
    result_table,
)
from skybridge.core.errors import ValidationError

costs_app = typer.Typer(
    help="Multi-cloud cost governance on FOCUS data (AWS + OCI).", no_args_is_help=True
)

From = Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")]
To = Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (UTC), inclusive.")]
AsOf = Annotated[
    str | None,
    typer.Option("--as-of", help="The day to judge, YYYY-MM-DD (default: last day with data)."),
]


def parse_day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{option} {text!r} is not a date", hint="write YYYY-MM-DD, e.g. 2024-09-30"
        ) from None


@contextmanager
def costs(ctx: typer.Context) -> Iterator[Costs]:
    with open_costs(app_context(ctx, "costs")) as api:
        yield api


def _out(ctx: typer.Context) -> Console:
    return cli_session(ctx).out


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


@costs_app.command()
def ingest(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Export files or folders (.csv, .csv.gz, .parquet).")
    ] = None,
    bucket: Annotated[
        bool, typer.Option("--bucket", help="Read exports from backends.objects under --prefix.")
    ] = False,
    prefix: Annotated[
        str | None, typer.Option(help="Object prefix (default [costs] report_prefix).")
    ] = None,
    api: Annotated[
        str | None, typer.Option("--api", help="Pull from the cost API named in [costs.sources].")
    ] = None,
    start: From = None,
    end: To = None,
    json_output: Json = False,
) -> None:
    """Convert exports (FOCUS, AWS CUR, OCI cost reports) or a cost API pull into Parquet, once."""
    if not paths and not bucket and api is None:
        raise ValidationError(
            "nothing to ingest", hint="give files or folders, --bucket, or --api NAME"
        )
    with costs(ctx) as app:
        results = _run_ingest(
            ctx,
            app,
            paths or [],
            bucket,
            prefix,
            api,
            parse_day(start, "--from"),
            parse_day(end, "--to"),
            json_output,
        )
    if json_output:
        emit_json([r.to_dict() for r in results])
    else:
        _print_ingest(ctx, results)
    if any(r.rejected for r in results):
        raise typer.Exit(EXIT_FAILED)


def _run_ingest(
    ctx: typer.Context,
    app: Costs,
    paths: list[Path],
    bucket: bool,
    prefix: str | None,
    api: str | None,
    start: date | None,
    end: date | None,
    quiet: bool,
) -> list[FileResult]:
    results: list[FileResult] = []
    if api is not None:
        if start is None or end is None:
            raise ValidationError("--api needs --from and --to")
        return app.ingest_api(api, start, end.fromordinal(end.toordinal() + 1))
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=quiet,
    )
    with progress:
        task = progress.add_task("ingesting", total=None)
        streams = [app.ingest_paths(paths)] if paths else []
        if bucket:
            streams.append(app.ingest_bucket(prefix))
        for stream in streams:
            for result in stream:
                results.append(result)
                progress.update(
                    task, advance=1, description=f"ingesting {escape(result.source[-50:])}"
                )
    return results


def _print_ingest(ctx: typer.Context, results: list[FileResult]) -> None:
    table = result_table("Ingest", "file", "kind", "status", "rows", "rejected")
    for r in results:
        table.add_row(escape(r.source), r.kind, r.status, str(r.rows), str(r.rejected))
    _out(ctx).print(table)
    for r in results:
        for bad in r.rejects[:20]:
            _out(ctx).print(
                f"[red]rejected[/] {escape(bad.file)}:{bad.line or '?'}: {escape(bad.reason)}"
            )


@costs_app.command()
def report(
    ctx: typer.Context,
    start: From = None,
    end: To = None,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="Also write the summary as CSV.")
    ] = None,
    charts: Annotated[
        Path | None,
        typer.Option(
            "--charts", help="Write trend, top-services and untagged-share charts to this folder."
        ),
    ] = None,
    chart_format: Annotated[
        str, typer.Option("--format", help="Chart format: png or svg.")
    ] = "png",
    json_output: Json = False,
) -> None:
    """The multi-cloud summary (default: the last 30 days with data)."""
    if chart_format not in {"png", "svg"}:
        raise ValidationError(f"--format {chart_format!r}: use png or svg")
    with costs(ctx) as app:
        period = app.period(parse_day(start, "--from"), parse_day(end, "--to"))
        summary = app.report(period)
        if charts is not None:
            _write_charts(app, summary, period, charts, chart_format)
    if csv_file is not None:
        with csv_file.open("w", newline="") as handle:
            csv.writer(handle).writerows(csv_lines(summary))
    if json_output:
        emit_json(summary)
        return
    _print_report(ctx, summary)


def _write_charts(app: Costs, summary: dict[str, Any], period: Any, folder: Path, fmt: str) -> None:
    from skybridge.apps.costs.charts import all_charts

    folder.mkdir(parents=True, exist_ok=True)
    forecast = app.forecast(period.end).to_dict()
    rendered = all_charts(
        summary, forecast, app.tags(period).to_dict(), "png" if fmt == "png" else "svg"
    )
    for stem, body in rendered.items():
        (folder / f"{stem}.{fmt}").write_bytes(body)
    print(f"charts written to {folder}", file=sys.stderr)


def _print_report(ctx: typer.Context, summary: dict[str, Any]) -> None:
    p = summary["period"]
    table = result_table(
        f"Spend {p['start']} .. {p['end']} ({p['days']} days)",
        "provider",
        "billed cost",
        "effective cost",
        "rows",
    )
    for row in summary["providers"]:
        table.add_row(
            escape(str(row["provider"])),
            _money(row["billed_cost"]),
            _money(row["effective_cost"]),
            str(row["rows"]),
        )
    total = summary["total"]
    table.add_row(
        "[bold]total[/]",
        _money(total["billed_cost"]),
        _money(total["effective_cost"]),
        str(total["rows"]),
    )
    _out(ctx).print(table)
    services = result_table("Top services", "service", "effective cost")
    for row in summary["services"]:
        services.add_row(escape(str(row["value"])), _money(row["effective_cost"]))
    _out(ctx).print(services)


@costs_app.command()
def tags(ctx: typer.Context, start: From = None, end: To = None, json_output: Json = False) -> None:
    """Tag policy compliance: untagged and invalid spend by provider, account, service..."""
    with costs(ctx) as app:
        report = app.tags(app.period(parse_day(start, "--from"), parse_day(end, "--to"))).to_dict()
    if json_output:
        emit_json(report)
        return
    out = _out(ctx)
    out.print(
        f"taggable spend {_money(report['taggable_cost'])}: "
        f"untagged {_share(report['untagged_share'])}, invalid {_share(report['invalid_share'])}, "
        f"compliant {_share(report['compliant_share'])}"
    )
    for dimension, rows in report["by"].items():
        table = result_table(
            f"Non-compliant spend by {dimension}", dimension, "spend", "non-compliant", "share"
        )
        for r in rows:
            table.add_row(
                escape(str(r["value"])),
                _money(r["cost"]),
                _money(r["noncompliant_cost"]),
                _share(r["noncompliant_share"]),
            )
        out.print(table)
    worst = result_table("Worst offenders", "resource", "provider", "service", "status", "spend")
    for r in report["worst_offenders"]:
        worst.add_row(
            escape(str(r["resource"])),
            str(r["provider"]),
            escape(str(r["service"])),
            r["status"],
            _money(r["cost"]),
        )
    out.print(worst)


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
            escape(scope),
            _money(d["amount"]),
            f"{_money(d['actual'])} ({_share(d['actual_share'])})",
            f"{_money(d['forecast'])} ({_share(d['forecast_share'])})",
            crossed,
        )
    _out(ctx).print(table if statuses else "No budgets: add [[costs.budgets]] to skybridge.toml.")
    for alert_sent in sent:
        _out(ctx).print(f"alert sent: {alert_sent['incident']}")


@costs_app.command()
def forecast(
    ctx: typer.Context,
    as_of: AsOf = None,
    dimension: Annotated[
        str | None, typer.Option(help="provider, account, compartment, service or tag:<key>")
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
    _out(ctx).print(
        f"{result['month']} as of {result['as_of']}: "
        f"month to date {_money(result['month_to_date'])}; "
        f"month end {_money(result['forecast_month_end'])} ({result['method']}, 90% band "
        f"{_money(result['low'])}..{_money(result['high'])}); "
        f"run rate {_money(result['run_rate_month_end'])}"
    )


@costs_app.command()
def anomalies(
    ctx: typer.Context,
    start: From = None,
    end: To = None,
    dimension: Annotated[
        str | None, typer.Option(help="Dimension to watch (default [costs] anomaly_dimension).")
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
            escape(a["value"]),
            _money(a["actual"]),
            _money(a["expected"]),
            _money(a["impact"]),
            escape(who),
        )
    _out(ctx).print(table if found else "No anomalies.")


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
                escape(a.name),
                a.fleet,
                a.policy,
                a.action,
                escape(a.reason),
                escape(f"{o.outcome} {o.detail}".strip()),
            )
        _out(ctx).print(table if outcomes else "Nothing to do.")
        for skipped in plan.skipped:
            _out(ctx).print(f"[yellow]skipped[/] {escape(str(skipped))}")
    if any(o.outcome == "failed" for o in outcomes):
        raise typer.Exit(EXIT_FAILED)


@costs_app.command("list")
def list_files(ctx: typer.Context, json_output: Json = False) -> None:
    """The files and API pulls ingested so far."""
    with costs(ctx) as app:
        files = [f.to_dict() for f in app.store.ledger.files()]
    if json_output:
        emit_json(files)
        return
    table = result_table("Ingested", "source", "kind", "rows", "rejected")
    for f in files:
        table.add_row(escape(f["source"]), f["kind"], str(f["rows"]), str(f["rejected"]))
    _out(ctx).print(table)


@costs_app.command()
def audit(ctx: typer.Context, limit: int = 50, json_output: Json = False) -> None:
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
            date.fromtimestamp(r["at"]).isoformat(),
            escape(r["actor"]),
            r["policy"],
            r["action"],
            escape(r["target"]),
            r["outcome"],
            escape(r["detail"]),
        )
    _out(ctx).print(table)

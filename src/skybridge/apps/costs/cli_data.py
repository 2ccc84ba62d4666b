"""``skybridge costs ingest | report | list``: getting cost data in and the summary out."""

from __future__ import annotations

import csv
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn

from skybridge.apps.costs.api import Costs
from skybridge.apps.costs.cli_common import From, To, costs, costs_app, money, out, parse_day
from skybridge.apps.costs.ingest import FileResult
from skybridge.apps.costs.report import csv_lines
from skybridge.apps.kit.cli import (
    EXIT_FAILED,
    Json,
    emit_json,
    progress_bar,
    result_table,
    styled,
)
from skybridge.core.errors import ValidationError


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
        str | None, typer.Option(help="Object prefix (default costs.report_prefix).")
    ] = None,
    api: Annotated[
        str | None, typer.Option("--api", help="Pull from the cost API named in costs.sources.")
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
    if any(r.failed for r in results):  # rows kept out, or a bucket object not ingested
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
        if end < start:  # as report says it; --to is a day included, the API's end is not
            raise ValidationError(f"the period ends ({end}) before it starts ({start})")
        return app.ingest_api(api, start, end + timedelta(days=1))
    progress = progress_bar(BarColumn(), MofNCompleteColumn(), transient=True, disable=quiet)
    with progress:
        task = progress.add_task("ingesting", total=None)
        streams = [app.ingest_paths(paths)] if paths else []
        if bucket:
            streams.append(app.ingest_bucket(prefix))
        for stream in streams:
            for result in stream:
                results.append(result)
                progress.update(task, advance=1, description=f"ingesting {result.source[-50:]}")
    return results


def _print_ingest(ctx: typer.Context, results: list[FileResult]) -> None:
    table = result_table("Ingest", "file", "kind", "status", "rows", "rejected")
    # A long path folds; the short columns keep their width on a narrow terminal.
    table.columns[0].no_wrap = False
    for column in table.columns[1:]:
        column.no_wrap = True
    for r in results:
        status = styled("[red]{}[/]", r.status) if r.status == "rejected" else r.status
        table.add_row(r.source, r.kind, status, str(r.rows), str(r.rejected))
    out(ctx).print(table)
    for r in results:
        if r.reason:
            markup = "[red]rejected[/] {}" if r.status == "rejected" else "[yellow]skipped[/] {}"
            out(ctx).print(styled(markup, r.reason))
        for bad in r.rejects[:20]:
            out(ctx).print(
                styled("[red]rejected[/] {}:{}: {}", bad.file, bad.line or "?", bad.reason)
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
            str(row["provider"]),
            money(row["billed_cost"]),
            money(row["effective_cost"]),
            str(row["rows"]),
        )
    total = summary["total"]
    table.add_row(
        styled("[bold]total[/]"),
        money(total["billed_cost"]),
        money(total["effective_cost"]),
        str(total["rows"]),
    )
    out(ctx).print(table)
    services = result_table("Top services", "service", "effective cost")
    for row in summary["services"]:
        services.add_row(str(row["value"]), money(row["effective_cost"]))
    out(ctx).print(services)


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
        table.add_row(f["source"], f["kind"], str(f["rows"]), str(f["rejected"]))
    out(ctx).print(table)

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
from skybridge.apps.costs.cli_checks import (
    check_chart_files,
    check_ingest_options,
    check_report_outputs,
)
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

#: ``--from``/``--to`` of ``ingest``: a period only a cost API pull has.
ApiFrom = Annotated[
    str | None, typer.Option("--from", help="With --api: first day, YYYY-MM-DD (UTC).")
]
ApiTo = Annotated[
    str | None,
    typer.Option("--to", help="With --api: last day, YYYY-MM-DD (UTC), inclusive."),
]


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
        str | None,
        typer.Option(help="With --bucket: the object prefix (default costs.report_prefix)."),
    ] = None,
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="Pull --from..--to from the cost API named in costs.sources (not with files "
            "or --bucket).",
        ),
    ] = None,
    start: ApiFrom = None,
    end: ApiTo = None,
    json_output: Json = False,
) -> None:
    """Convert exports (FOCUS, AWS CUR, OCI cost reports) or a cost API pull into Parquet, once.

    Files and --bucket (with --prefix) ingest whole exports; --api NAME pulls the days
    --from..--to instead.
    """
    check_ingest_options(paths or [], bucket, prefix, api, start, end)
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    with costs(ctx) as app:
        results = _run_ingest(ctx, app, paths or [], bucket, prefix, api, first, last, json_output)
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
    if api is not None and start is not None and end is not None:
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
        str | None, typer.Option("--format", help="With --charts: png (default) or svg.")
    ] = None,
    json_output: Json = False,
) -> None:
    """The multi-cloud summary (default: the last 30 days with data).

    Every output path (--csv, --charts) is checked before anything is written.
    """
    fmt = check_report_outputs(csv_file, charts, chart_format)
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    with costs(ctx) as app:
        period = app.period(first, last)
        summary = app.report(period)
        rendered = _render_charts(app, summary, period, fmt) if charts is not None else {}
    if charts is not None:
        _write_charts(charts, {charts / f"{stem}.{fmt}": body for stem, body in rendered.items()})
    if csv_file is not None:
        with csv_file.open("w", newline="") as handle:
            csv.writer(handle).writerows(csv_lines(summary))
    if json_output:
        emit_json(summary)
        return
    _print_report(ctx, summary)


def _write_charts(folder: Path, files: dict[Path, bytes]) -> None:
    check_chart_files(folder, list(files))
    folder.mkdir(parents=True, exist_ok=True)
    for path, body in files.items():
        path.write_bytes(body)
    print(f"charts written to {folder}", file=sys.stderr)


def _render_charts(app: Costs, summary: dict[str, Any], period: Any, fmt: str) -> dict[str, bytes]:
    """Every chart by file stem, rendered in memory: nothing is written yet."""
    from skybridge.apps.costs.charts import all_charts

    forecast = app.forecast(period.end).to_dict()
    return all_charts(
        summary, forecast, app.tags(period).to_dict(), "png" if fmt == "png" else "svg"
    )


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

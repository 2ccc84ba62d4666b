"""``skybridge features log ...``: upkeep of the offline log.

Exit codes: 0 ok (a view another compaction holds is said and skipped); 1 a store failed; 2 bad
input (an unknown view), with a message saying what to fix.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from skybridge.apps.features.maintenance import compact_by_hand
from skybridge.apps.features.store import open_store
from skybridge.apps.kit.cli import (
    Json,
    app_context,
    cli_session,
    counted,
    emit_json,
    progress_bar,
    result_table,
    styled,
)

log_app = typer.Typer(help="The offline log: compaction.", no_args_is_help=True)


class _Bar:
    """Compaction progress on a rich bar: files merged of files planned."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("compacting the offline log", total=0)

    def planned(self, files: int) -> None:
        task = next(t for t in self.progress.tasks if t.id == self.task)
        self.progress.update(self.task, total=(task.total or 0) + files)

    def merged(self, files: int) -> None:
        self.progress.advance(self.task, files)


@log_app.command("compact")
def compact(
    ctx: typer.Context,
    view: Annotated[
        str | None, typer.Option("--view", help="Only this feature view (default every view).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be merged; change nothing.")
    ] = False,
    json_out: Json = False,
) -> None:
    """Merge the offline log's small part files into a few larger files per view and day.

    Closed days are merged whole; today's parts once older than features.compact_after.
    Every row is kept, once per (source, offset); training sets read the same rows."""
    app = app_context(ctx, "features")
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        open_store(app, model=False, streams=False) as store,
        progress_bar(*columns, disable=json_out, transient=True) as progress,
    ):
        report = compact_by_hand(app, store, view, dry_run=dry_run, tracker=_Bar(progress))
    if json_out:
        emit_json(report)
        return
    _summary(ctx, report)


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _summary(ctx: typer.Context, report: dict[str, Any]) -> None:
    out = cli_session(ctx).out
    title = "Offline log compaction" + (" (dry run: nothing changed)" if report["dry_run"] else "")
    table = result_table(title, "view", "files", "rows merged", "copies dropped", "bytes")
    for row in report["views"]:
        table.add_row(
            row["view"] + (" (busy)" if row["busy"] else ""),
            f"{_number(row['files_before'])} -> {_number(row['files_after'])}",
            _number(row["merged_rows"]),
            _number(row["duplicates"]),
            f"{_number(row['bytes_before'])} -> {_number(row['bytes_after'])}",
        )
    out.print(table)
    total = report["total"]
    verb = "would merge" if report["dry_run"] else "merged"
    rows = "" if total["merged_rows"] is None else f" ({counted(total['merged_rows'], 'row')})"
    kept = "" if total["written_rows"] is None else f" ({counted(total['written_rows'], 'row')})"
    out.print(
        styled(
            "[green]{}[/] {}{} into {}{}: the log goes from {} to {}",
            verb,
            counted(total["merged_files"] or 0, "file"),
            rows,
            counted(total["written_files"] or 0, "file"),
            kept,
            counted(total["files_before"] or 0, "file"),
            counted(total["files_after"] or 0, "file"),
        )
    )
    for row in report["views"]:
        if row["busy"]:
            out.print(
                styled(
                    "[yellow]skipped[/] view {}: another compaction is running on it; "
                    "run again once it is done",
                    row["view"],
                )
            )
        if row["settled"]:
            out.print(
                styled(
                    "view {}: an interrupted compaction was {} first", row["view"], row["settled"]
                )
            )

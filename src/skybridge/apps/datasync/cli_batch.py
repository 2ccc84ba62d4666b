"""``skybridge datasync batch ...`` and ``skybridge datasync dlq ...``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from skybridge.apps.datasync.batchrecord import STEPS
from skybridge.apps.datasync.cli_common import opened, progress_bar
from skybridge.apps.datasync.views import batch_view
from skybridge.apps.kit.cli import (
    Json,
    cli_session,
    emit_json,
    more_after,
    page_title,
    result_table,
)
from skybridge.core.errors import ValidationError

batch_app = typer.Typer(help="Batch syncs: extract -> copy to OCI -> load -> merge.")
dlq_app = typer.Typer(help="Change events that could not be applied.", no_args_is_help=True)


@batch_app.command("run")
def batch_run_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A declared batch sync.")],
    batch_id: Annotated[
        str | None,
        typer.Option(
            "--id", help="Resume this existing batch (see batch list) instead of the last window."
        ),
    ] = None,
    step: Annotated[
        list[str] | None, typer.Option("--step", help=f"Only these steps ({', '.join(STEPS)}).")
    ] = None,
    as_json: Json = False,
) -> None:
    """Run a batch: extract -> copy to OCI -> load staging -> merge (done steps are skipped)."""
    steps = step or list(STEPS)
    if unknown := [s for s in steps if s not in STEPS]:
        raise ValidationError(
            f"unknown step{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}",
            hint=f"steps are {', '.join(STEPS)}",
        )
    with opened(ctx) as sync:
        sync.runner().record(name, batch=batch_id)  # an unknown name or id: before any bar
        with progress_bar() as progress:
            sync.create_tables()
            task = progress.add_task(f"batch {name}", total=len(steps))

            def on_step(current: str, state: str) -> None:
                progress.update(task, description=f"batch {name}: {current} {state}")
                if state in ("done", "skipped"):
                    progress.advance(task)

            record = sync.run_batch(name, batch=batch_id, steps=steps, on_step=on_step)
    view = batch_view(record)
    if as_json:
        emit_json(view)
        return
    _print_batch(ctx, view)


def _print_batch(ctx: typer.Context, view: dict[str, Any]) -> None:
    table = result_table(
        f"Batch {view['id']} ({view['state']})", "step", "state", "seconds", "detail"
    )
    for step in view["steps"]:
        seconds = "" if step["seconds"] is None else f"{step['seconds']:.2f}"
        detail = step["error"] or ", ".join(f"{k} {v}" for k, v in step["detail"].items())
        table.add_row(step["name"], step["state"], seconds, detail)
    cli_session(ctx).out.print(table)


#: Most batches one ``batch list`` shows (as ``GET /api/datasync/batches?limit=``).
MAX_LIST = 1000


@batch_app.command("list")
def batch_list_command(
    ctx: typer.Context,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=1, max=MAX_LIST, help=f"Show at most this many (1-{MAX_LIST})."
        ),
    ] = 200,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many newest first.")] = 0,
    as_json: Json = False,
) -> None:
    """Batches run so far, newest window first; says how many there are beyond the page.

    ``--json`` prints ``{"batches": [...], "total", "offset", "limit"}`` (as ``anomaly alerts
    list``).
    """
    with opened(ctx) as sync:
        records, total = sync.batches_and_total(offset + limit)
    views = [batch_view(r) for r in records[offset:]]
    if as_json:
        emit_json({"batches": views, "total": total, "offset": offset, "limit": limit})
        return
    out = cli_session(ctx).out
    if not views:
        out.print(f"No batches (of {total})." if total else "No batches yet.")
        return
    table = result_table(
        page_title("Batches", len(views), offset, total, "newest windows first"),
        "batch",
        "sync",
        "state",
        "rows",
        "next step",
    )
    for v in views:
        table.add_row(v["id"], v["name"], v["state"], str(v["rows"]), v["next_step"] or "—")
    out.print(table)
    if more := more_after(len(views), offset, total):
        out.print(f"{more} (`batch show ID` shows any one)")


@batch_app.command("show")
def batch_show_command(
    ctx: typer.Context,
    batch_id: Annotated[str, typer.Argument(help="A batch id (see batch list).")],
    as_json: Json = False,
) -> None:
    """One batch: each step's state, time and outcome."""
    with opened(ctx) as sync:
        view = batch_view(sync.batch(batch_id))
    if as_json:
        emit_json(view)
        return
    _print_batch(ctx, view)


@dlq_app.command("list")
def dlq_list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """Change events the apply pipeline dead-lettered, with the reason."""
    with opened(ctx) as sync:
        letters = [letter.as_dict() for letter in sync.dead_letters()]
    if as_json:
        emit_json(letters)
        return
    table = result_table("Dead letters", "id", "key", "error", "replayed")
    for x in letters:
        table.add_row(
            str(x["id"]),
            str(x["key"]),
            str(x["error"]),
            "yes" if x["replayed"] else "",
        )
    cli_session(ctx).out.print(table if letters else "No dead letters.")


@dlq_app.command("replay")
def dlq_replay_command(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Option("--id", help="A letter id (repeat).")] = None,
    replay_all: Annotated[
        bool, typer.Option("--all", help="Every letter not replayed yet.")
    ] = False,
) -> None:
    """Republish dead letters to the topic (after fixing what made them fail)."""
    if bool(ids) == replay_all:
        raise ValidationError("give --id (one or more) or --all")
    with opened(ctx) as sync:
        replayed = sync.replay(None if replay_all else ids)
    typer.echo(f"replayed {len(replayed)} letter(s)")

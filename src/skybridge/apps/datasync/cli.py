"""``skybridge datasync ...``: tables, publish and apply changes, batches, SQL, dead letters.

Exit codes: 0 ok; 1 a batch step failed or a store is unreachable; 2 bad input (an invalid
change or file, an unknown table, batch or dialect, bad configuration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from skybridge.apps.datasync.changes import Change
from skybridge.apps.datasync.cli_batch import batch_app, dlq_app
from skybridge.apps.datasync.cli_common import opened, progress_bar
from skybridge.apps.datasync.service import DataSync, effective_config
from skybridge.apps.datasync.stepfunctions import check_asl, state_machine
from skybridge.apps.datasync.views import list_view, status_view
from skybridge.apps.kit.cli import Json, app_context, cli_session, emit_json, result_table
from skybridge.core.errors import ValidationError

datasync_app = typer.Typer(
    help="Sync rows AWS → OCI: stream upserts and batch MERGE, version-guarded.",
    no_args_is_help=True,
)
datasync_app.add_typer(batch_app, name="batch", no_args_is_help=True)
datasync_app.add_typer(dlq_app, name="dlq")
#: Changes sent per database transaction (or produce call) by ``apply`` and ``publish``.
CHUNK = 5000


def read_changes(path: Path) -> list[tuple[str, Any]]:
    """Change documents from a JSON Lines file (or a JSON array), each with where it is
    (``FILE line N``, ``FILE item N``); ``-`` reads stdin."""
    text = typer.get_text_stream("stdin").read() if str(path) == "-" else _read(path)
    stripped = text.strip()
    if stripped.startswith("["):
        docs = _json(stripped, str(path))
        if not isinstance(docs, list):
            raise ValidationError(f"{path}: expected a JSON array of changes")
        return [(f"{path} item {n}", doc) for n, doc in enumerate(docs, start=1)]
    return [
        (where, _json(line, where))
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip()
        for where in [f"{path} line {n}"]
    ]


def valid_changes(sync: DataSync, path: Path) -> list[Change]:
    """Every change of ``path``, validated; the first bad one raises naming its line."""
    changes: list[Change] = []
    for where, doc in read_changes(path):
        try:
            changes.append(sync.change(doc))
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc.message}", hint=exc.hint) from None
    return changes


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"{where}: not JSON ({exc})") from None


ChangesFile = Annotated[
    Path, typer.Argument(help="JSON Lines of changes (or a JSON array; - is stdin).")
]


@datasync_app.command("list")
def list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """Synced tables and declared batch syncs."""
    view = list_view(effective_config(app_context(ctx, "datasync")))
    if as_json:
        emit_json(view)
        return
    out = cli_session(ctx).out
    tables = result_table("Synced tables", "table", "key", "version", "columns")
    for t in view["tables"]:
        tables.add_row(t["name"], ", ".join(t["key"]), t["version"], ", ".join(t["columns"]))
    out.print(tables)
    batches = result_table("Batch syncs", "batch", "table", "source", "every (s)")
    for b in view["batches"]:
        batches.add_row(b["name"], b["table"], b["source"], f"{b['every']:g}")
    out.print(batches if view["batches"] else "No batch syncs declared ([datasync.batches]).")


@datasync_app.command("create-tables")
def create_tables_command(ctx: typer.Context) -> None:
    """Create the missing target and staging tables in the target database."""
    with opened(ctx) as sync:
        made = sync.create_tables()
    typer.echo(f"created {', '.join(made)}" if made else "every table already exists")


@datasync_app.command("publish")
def publish_command(ctx: typer.Context, path: ChangesFile) -> None:
    """Publish changes to the topic (the stream path); the apply pipeline applies them."""
    with opened(ctx) as sync:
        changes = valid_changes(sync, path)  # all valid, or nothing is sent
        with progress_bar() as progress:
            task = progress.add_task("publishing", total=len(changes))
            for start in range(0, len(changes), CHUNK):
                chunk = changes[start : start + CHUNK]
                progress.advance(task, sync.publish(chunk))
    typer.echo(f"published {len(changes)} change(s)")


@datasync_app.command("apply")
def apply_command(ctx: typer.Context, path: ChangesFile, as_json: Json = False) -> None:
    """Upsert changes into the target now (each only over an older version)."""
    applied = stale = 0
    with opened(ctx) as sync:
        changes = valid_changes(sync, path)
        sync.create_tables()
        with progress_bar() as progress:
            task = progress.add_task("applying", total=len(changes))
            for start in range(0, len(changes), CHUNK):
                for result in sync.apply(changes[start : start + CHUNK]):
                    applied, stale = applied + result.applied, stale + result.stale
                    progress.advance(task, result.received)
    if as_json:
        emit_json({"received": len(changes), "applied": applied, "stale": stale})
        return
    typer.echo(f"applied {applied}, skipped {stale} not newer than the target's rows")


@datasync_app.command("status")
def status_command(ctx: typer.Context, as_json: Json = False) -> None:
    """Tables (rows, versions, latency), lag, dead letters, batch syncs and the batch job.

    Per table: rows, deleted, newest version, latency p50/p95 (JSON: also the last commit);
    the consumer lag and dead letters; per batch sync, the window end it is synced through,
    the windows behind and the batch it waits on; the batch job's last tick and its error.
    """
    with opened(ctx) as sync:
        view = status_view(sync)
    if as_json:
        emit_json(view)
        return
    table = result_table("Synced tables", "table", "rows", "deleted", "max version", "p50", "p95")
    for t in view["tables"]:
        table.add_row(
            t["table"],
            str(t["rows"]),
            str(t["deleted"]),
            str(t["max_version"] or "—"),
            t["latency_p50_text"],
            t["latency_p95_text"],
        )
    out = cli_session(ctx).out
    out.print(table)
    out.print(f"consumer lag {view['lag']} · dead letters {view['dead_letters']}")
    if view["batch_syncs"]:
        _print_batch_syncs(ctx, view)


def _print_batch_syncs(ctx: typer.Context, view: dict[str, Any]) -> None:
    """Each batch sync's watermark and what it waits on; the batch job's last tick."""
    out = cli_session(ctx).out
    table = result_table("Batch syncs", "batch sync", "synced through", "behind", "waiting on")
    for s in view["batch_syncs"]:
        waiting = s["waiting"]
        table.add_row(
            s["name"],
            s["synced_through_text"],
            "—" if s["behind"] is None else f"{s['behind']} window(s)",
            "—" if waiting is None else f"{waiting['id']} ({waiting['state']})",
        )
    out.print(table)
    job = view["batch_job"]
    if job["status"] == "never":
        out.print("batch job: no tick yet (it runs in `skybridge up` and `skybridge worker`)")
    elif job["error"]:
        out.print(f"batch job: the last tick ({job['ran_text']}) failed: {job['error']}")
    else:
        out.print(f"batch job: the last tick ({job['ran_text']}) succeeded")


@datasync_app.command("explain")
def explain_command(
    ctx: typer.Context,
    table: Annotated[str, typer.Argument(help="A synced table.")],
    dialect: Annotated[str, typer.Option(help="postgresql, sqlite or oracle.")] = "oracle",
    as_json: Json = False,
) -> None:
    """The SQL datasync runs for TABLE on DIALECT (DDL, upsert, merge; Oracle: COPY_DATA)."""
    with opened(ctx) as sync:
        statements = sync.sql(table, dialect)
    if as_json:
        emit_json(statements)
        return
    for name, sql in statements.items():
        typer.echo(f"-- {name}\n{sql};\n" if not sql.endswith("END;") else f"-- {name}\n{sql}\n/\n")


@datasync_app.command("export-asl")
def export_asl_command(
    ctx: typer.Context,
    batch: Annotated[str, typer.Argument(help="A declared batch sync.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """The batch workflow as an AWS Step Functions state machine (ASL JSON)."""
    config = effective_config(app_context(ctx, "datasync"))
    if batch not in config.batches:
        raise ValidationError(
            f"no batch sync called {batch!r}", hint="see: skybridge datasync list"
        )
    definition = state_machine(batch, config.lambda_prefix + "step")
    check_asl(definition)
    text = json.dumps(definition, indent=2)
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text + "\n")
        typer.echo(f"wrote {out}")

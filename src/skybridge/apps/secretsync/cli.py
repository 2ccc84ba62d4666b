"""``skybridge secrets ...``: sync, reconcile, status, dead letters, audit, mapping tables.

Exit codes: 0 ok; 1 a sync failed or was dead-lettered, a reconcile hit errors, or
``reconcile --check`` found drift; 2 bad input (unknown mapping or letter, an invalid table or
event file, bad configuration). No command ever prints a secret value.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TimeElapsedColumn
from rich.text import Text

from skybridge.apps.kit.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    Json,
    app_context,
    cli_session,
    console,
    emit_json,
    progress_bar,
    report_error,
    result_table,
    styled,
)
from skybridge.apps.kit.timefmt import ago
from skybridge.apps.secretsync.events import load_event, read_event
from skybridge.apps.secretsync.letters import list_letters, replay_letters
from skybridge.apps.secretsync.loading import InvalidTable, load_table, service_backends
from skybridge.apps.secretsync.reconcile import ReconcileReport
from skybridge.apps.secretsync.runs import ReconcileRuns
from skybridge.apps.secretsync.service import SecretSyncService, open_service
from skybridge.apps.secretsync.views import audit_view, mapping_view, status_views
from skybridge.core import clock
from skybridge.core.errors import ConfigError, NotFound, SkybridgeError, ValidationError

secrets_app = typer.Typer(
    help="Sync secrets between stores (AWS Secrets Manager -> OCI Vault, or any pair).",
    no_args_is_help=True,
)
dlq_app = typer.Typer(help="Events that could not be synced.", no_args_is_help=True)
mappings_app = typer.Typer(help="Mapping tables.", no_args_is_help=True)
secrets_app.add_typer(dlq_app, name="dlq")
secrets_app.add_typer(mappings_app, name="mappings")

TableOpt = Annotated[
    Path | None,
    typer.Option(
        "--table",
        help="Mapping table (default: $SKYBRIDGE__SECRETSYNC__MAPPINGS, secretsync.toml "
        "beside the settings file skybridge.toml, <data_dir>/secretsync.toml).",
    ),
]
GOOD = {"created", "updated", "unchanged", "stale", "deleted", "orphaned", "noop", "in-sync"}
#: Neither done nor failed: shown dimmed; an ``ignored`` event (needs no sync) exits 0.
QUIET = {"unknown", "ignored"}
#: The progress bar's label of each reconcile phase.
PHASES = {"plan": "planning", "apply": "applying"}


@contextmanager
def service(ctx: typer.Context, table: Path | None) -> Iterator[SecretSyncService]:
    """The engine on the configured (or ``--table``) table; unknown names exit 2."""
    app = app_context(ctx, "secretsync")
    try:
        given = load_table(table, service_backends(app)) if table is not None else None
        with open_service(app, table=given) as svc:
            yield svc
    except NotFound as exc:
        report_error(exc)
        raise typer.Exit(EXIT_BAD_INPUT) from None


def _print(ctx: typer.Context, renderable: Any) -> None:
    cli_session(ctx).out.print(renderable)


def _word(word: str) -> Text:
    if word in QUIET:
        return styled("[dim]{}[/]", word)
    if word in {"create", "update", "repair", "delete-target", "orphan-target"}:
        return styled("[cyan]{}[/]", word)
    colour = "green" if word in GOOD else "yellow" if word in {"report", "retain"} else "red"
    return styled("[" + colour + "]{}[/]", word)


def _short(version: str | None) -> str:
    return "—" if not version else version if len(version) <= 14 else version[:12] + "…"


@secrets_app.command("sync")
def sync(
    ctx: typer.Context,
    mappings: Annotated[list[str] | None, typer.Argument(help="Mappings to sync now.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Sync every mapping.")] = False,
    event: Annotated[
        Path | None,
        typer.Option("--event", exists=True, dir_okay=False, help="Handle this event (JSON)."),
    ] = None,
    table: TableOpt = None,
    as_json: Json = False,
) -> None:
    """Sync mappings to their source's current version, or handle one event file."""
    if sum((bool(mappings), all_, event is not None)) != 1:
        raise ValidationError("give mapping names, --all, or --event FILE.json (one of them)")
    misconfigured: list[str] = []  # mappings that failed on a bad setting: exit 2, not 1
    with service(ctx, table) as svc:
        if event is not None:
            outcomes = _event_outcomes(svc, event)
        else:
            names = [m.name for m in svc.engine.mappings] if all_ else list(mappings or [])
            _check_names(svc, names)
            outcomes = [_sync_one(svc, name, misconfigured) for name in names]
    failed = [o for o in outcomes if o["action"] not in GOOD | QUIET]
    if as_json:
        emit_json(outcomes)
    else:
        rows = result_table("Sync", "mapping", "action", "source version", "detail")
        for o in outcomes:
            detail = o.get("detail") or ""
            rows.add_row(o["mapping"], _word(o["action"]), _short(o["source_version"]), detail)
        _print(ctx, rows)
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT if misconfigured else EXIT_FAILED)


def _check_names(svc: SecretSyncService, names: list[str]) -> None:
    known = {m.name for m in svc.engine.mappings}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValidationError(
            f"no mapping called {', '.join(unknown)}",
            hint=f"known mappings: {', '.join(sorted(known)) or 'none'}",
        )


def _sync_one(svc: SecretSyncService, name: str, misconfigured: list[str]) -> dict[str, Any]:
    """The mapping's outcome; its name goes to ``misconfigured`` when a setting is to blame
    (a store that cannot be opened, such as a local store whose key file is gone)."""
    try:
        return svc.engine.sync_mapping(name).to_dict()
    except SkybridgeError as exc:
        if isinstance(exc, ConfigError):
            misconfigured.append(name)
        return {"mapping": name, "action": "failed", "source_version": None, "detail": str(exc)}


def _event_outcomes(svc: SecretSyncService, path: Path) -> list[dict[str, Any]]:
    """One outcome per mapping the event concerns, or one ``ignored`` with the reason."""
    raw = load_event(path.read_bytes())  # not JSON / not an object: bad input, exit 2
    read_event(raw)  # not an event (no detail, no secret): bad input too, not a dead letter
    return [o.to_dict() for o in svc.engine.sync_event(raw)]


@secrets_app.command("reconcile")
def reconcile(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only print the plan.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when anything drifted (for CI).")
    ] = False,
    mapping: Annotated[
        list[str] | None, typer.Option("--mapping", "-m", help="Only these mappings.")
    ] = None,
    full: Annotated[
        bool,
        typer.Option("--full", help="Read every target, even those a change feed vouches for."),
    ] = False,
    table: TableOpt = None,
    as_json: Json = False,
) -> None:
    """Compare sources and targets; repair drift per policy (--dry-run: the plan only).

    A reconcile that writes is a recorded run (see ``GET /api/secretsync/reconcile``): it
    exits 1 naming the run when another one is going."""
    with service(ctx, table) as svc:
        if mapping:
            _check_names(svc, mapping)
        report = _reconcile_with_progress(svc, dry_run, mapping or None, full, quiet=as_json)
    data = report.to_dict()
    if as_json:
        emit_json(data)
    else:
        title = "Reconcile plan (dry run)" if dry_run else "Reconcile"
        rows = result_table(title, "mapping", "action", "reason", "target check")
        for action in data["plan"]["actions"]:
            rows.add_row(
                action["mapping"],
                _word(action["action"]),
                action["reason"],
                action["check"],
            )
        _print(ctx, rows)
        verb = "would change" if dry_run else "changed"
        _print(ctx, f"{data['plan']['changes']} mapping(s) {verb}; {data['writes']} write(s).")
    drifted = any(a["action"] != "noop" for a in data["plan"]["actions"])
    if report.errors or (check and drifted):
        raise typer.Exit(EXIT_FAILED)


def _reconcile_with_progress(
    svc: SecretSyncService, dry_run: bool, names: list[str] | None, full: bool, *, quiet: bool
) -> ReconcileReport:
    """The reconcile, with a progress bar on stderr (planning, then applying)."""
    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with progress_bar(*columns, transient=True, disable=quiet) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(PHASES.get(phase, phase), total=total)
            bar.update(tasks[phase], completed=done, total=total)

        if dry_run:  # a plan writes nothing: it runs beside any other reconcile
            return svc.engine.reconcile(dry_run=True, mappings=names, full=full, progress=progress)
        runs = ReconcileRuns(svc.state)
        started = runs.start(
            svc.engine, full=full, mappings=names, trigger="cli", progress=progress
        )
        _, report = started.execute()
        return report


@secrets_app.command("status")
def status(ctx: typer.Context, table: TableOpt = None, as_json: Json = False) -> None:
    """Each mapping: last synced version, synced at, lag, drift, last error, dead letters."""
    with service(ctx, table) as svc:
        rows = status_views(svc)
    if as_json:
        emit_json(rows)
        return
    out = result_table(
        "secretsync status", "mapping", "source version", "synced", "lag", "drift", "last error"
    )
    out.add_column("dead letters", justify="right")
    for r in rows:
        lag = "—" if r["lag_seconds"] is None else f"{r['lag_seconds']:.1f}s"
        out.add_row(
            r["name"],
            _short(r["last_source_version"]),
            ago(r["synced_at"], never="—"),
            lag,
            _word(r["drift"]),
            r["last_error"] or "",
            str(r["dead_letters"]),
        )
    _print(ctx, out)


@dlq_app.command("list")
def dlq_list(ctx: typer.Context, table: TableOpt = None, as_json: Json = False) -> None:
    """Events that could not be synced, with the reason (never the event itself)."""
    with service(ctx, table) as svc:
        letters = [x.to_dict() for x in list_letters(svc)]
    if as_json:
        emit_json(letters)
        return
    out = result_table("Dead letters", "id", "store", "mapping", "secret", "reason", "failed")
    for x in letters:
        out.add_row(
            x["id"],
            x["store"],
            x["mapping"] or "—",
            x["secret"] or "—",
            x["reason"],
            ago(x["failed_at"], never="—"),
        )
    _print(ctx, out if letters else "No dead letters.")


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Argument(help="Letter ids (see dlq list).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    table: TableOpt = None,
    as_json: Json = False,
) -> None:
    """Retry dead letters; those that succeed are removed. Exit 1 if any fails again."""
    if bool(ids) == all_:
        raise ValidationError("give letter ids or --all (one of them)")
    with service(ctx, table) as svc:
        results = [r.to_dict() for r in replay_letters(svc, None if all_ else list(ids or []))]
    if as_json:
        emit_json(results)
    else:
        out = result_table("Replay", "id", "store", "result", "detail")
        for r in results:
            verdict = styled("[green]ok[/]") if r["ok"] else styled("[red]failed[/]")
            out.add_row(r["id"], r["store"], verdict, r["detail"])
        _print(ctx, out if results else "No dead letters.")
    if any(not r["ok"] for r in results):
        raise typer.Exit(EXIT_FAILED)


@secrets_app.command("audit")
def audit(
    ctx: typer.Context,
    mapping: Annotated[str | None, typer.Option("--mapping", "-m", help="One mapping.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most records shown.")] = 50,
    table: TableOpt = None,
    as_json: Json = False,
) -> None:
    """Writes to targets, newest first (who, what, which versions; never values)."""
    with service(ctx, table) as svc:
        if mapping:
            _check_names(svc, [mapping])
        records = [audit_view(r) for r in svc.engine.audit_log(mapping, limit)]
    if as_json:
        emit_json(records)
        return
    out = result_table(
        "Audit log", "when", "mapping", "action", "source version", "actor", "reason"
    )
    for r in records:
        out.add_row(
            clock.when(r["at"], seconds=True),
            r["mapping"],
            _word(r["action"]),
            _short(r["source_version"]),
            r["actor"],
            r["reason"],
        )
    _print(ctx, out if records else "No writes yet.")


@mappings_app.command("list")
def mappings_list(ctx: typer.Context, table: TableOpt = None, as_json: Json = False) -> None:
    """The mappings of the configured table."""
    with service(ctx, table) as svc:
        rows = [mapping_view(m) for m in svc.engine.mappings]
        where = svc.table_source
    if as_json:
        emit_json(rows)
        return
    out = result_table(f"Mappings ({where})", "name", "source", "target", "fields", "drift")
    for r in rows:
        fields = ", ".join(r["fields"]) if r["fields"] else "whole value"
        out.add_row(r["name"], r["source"], r["target"], fields, r["drift"])
    _print(ctx, out)


@mappings_app.command("validate")
def mappings_validate(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(dir_okay=False, help="A .toml/.yaml/.json table (same as --table)."),
    ] = None,
    table: TableOpt = None,
) -> None:
    """Check a mapping table (default: the configured one); exit 2 with what to fix."""
    if file is not None and table is not None and file != table:
        raise ValidationError("give the table once: as an argument or with --table")
    path = file or table
    if path is None:
        with service(ctx, None) as svc:
            count, where = len(svc.engine.mappings), svc.table_source
        _print(ctx, styled("[green]✓[/] {}: {} mapping(s), valid.", where, count))
        return
    known = service_backends(app_context(ctx, "secretsync"))
    try:
        parsed = load_table(path, known)
    except InvalidTable as exc:
        report_error(ValidationError(f"{path} is not a valid mapping table"))
        for problem in exc.problems:
            typer.echo(f"  - {problem}", err=True)
        console(stderr=True).print(styled("[yellow]hint:[/] fix each setting named above"))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    _print(ctx, styled("[green]✓[/] {}: {} mapping(s), valid.", path, len(parsed.mappings)))

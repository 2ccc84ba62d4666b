"""``skybridge worker``: run the apps' pipelines, services and scheduled jobs until SIGTERM.

``skybridge worker run`` runs every app's background work; ``worker run secretsync`` one app's;
``worker run secretsync.events`` one part; ``worker run mymodule:pipeline`` a pipeline of your
own. ``--workers N`` runs N processes (members of the same consumer groups; each job tick
runs once among them).
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Annotated, Any

import typer

from skybridge.apps.kit.background import Background, app_parts, build_pipeline
from skybridge.apps.kit.cli import Json, cli_session, emit_json, result_table
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec, discover_apps, find_app
from skybridge.core.errors import NotFound, ValidationError
from skybridge.runtime.worker import load_pipeline, run_processes, run_worker

#: The most processes ``--workers`` starts on one machine.
MAX_WORKERS = 64
worker_app = typer.Typer(help="Run the apps' pipelines, services and jobs.", no_args_is_help=True)
Targets = Annotated[
    list[str] | None,
    typer.Argument(
        help="APP, APP.PART or module:attribute (default: every app's background work).",
        show_default=False,
    ),
]


@worker_app.command("list")
def list_parts(ctx: typer.Context, as_json: Json = False) -> None:
    """The background parts of every installed app."""
    settings = cli_session(ctx).settings()
    rows = [
        {"app": p.app, "kind": p.kind, "name": p.name, "target": p.label}
        for spec in discover_apps()
        for p in app_parts(AppContext.create(spec, settings))
    ]
    if as_json:
        emit_json(rows)
        return
    table = result_table("Background parts", "target", "app", "kind")
    for row in rows:
        table.add_row(row["target"], row["app"], row["kind"])
    cli_session(ctx).out.print(table if rows else "No app has background work.")


#: What ``--idle-exit`` and a ``module:attribute`` target need.
_ONE_PIPELINE = "--idle-exit and module:attribute take exactly one pipeline as the target"


def _one_pipeline(apps: list[AppSpec], targets: list[str]) -> tuple[AppSpec | None, str] | None:
    """The one pipeline ``targets`` names, as ``(None, "module:attribute")`` or ``(app,
    pipeline)``; ``None`` if they name anything else."""
    if len(targets) != 1:
        return None
    target = targets[0]
    if ":" in target:
        return None, target
    app_name, _, part = target.partition(".")
    spec = find_app(apps, app_name)
    if not part and len(spec.pipelines) == 1 and not spec.jobs and not spec.services:
        part = next(iter(spec.pipelines))
    return (spec, part) if part in spec.pipelines else None


def _needs_one_pipeline(targets: list[str], idle_exit: float | None) -> bool:
    """Whether the run must name exactly one pipeline: ``--idle-exit`` or a module:attribute."""
    return idle_exit is not None or any(":" in target for target in targets)


def _single_pipeline(apps: list[AppSpec], targets: list[str], settings: Any) -> Any:
    """The one pipeline ``targets`` names (for ``--idle-exit``), built."""
    named = _one_pipeline(apps, targets)
    if named is None:
        raise ValidationError(_ONE_PIPELINE)
    spec, target = named
    if spec is None:
        try:
            return load_pipeline(target)
        except NotFound as exc:
            raise ValidationError(exc.message, hint="give module:attribute of a Pipeline") from None
    return build_pipeline(AppContext.create(spec, settings), target)


def _check_targets(apps: list[AppSpec], targets: list[str]) -> None:
    for target in targets:
        if ":" in target:
            continue
        app_name, dot, part = target.partition(".")
        spec = find_app(apps, app_name)
        known = [*spec.pipelines, *spec.services, *(["jobs"] if spec.jobs else [])]
        where = "see `skybridge worker list`"
        if not known:
            raise ValidationError(f"app '{spec.name}' has no background work", hint=where)
        if (dot and not part) or (part and part not in known):
            raise ValidationError(
                f"app '{spec.name}' has no background part {part!r}",
                hint=f"its parts: {', '.join(known)}; {where}",
            )


def _child_command(ctx: typer.Context, targets: list[str], idle_exit: float | None) -> list[str]:
    """The command line of one of ``--workers`` processes: this one's, run as one process (with
    ``--idle-exit``, so that each stops when idle and this one with them)."""
    session = cli_session(ctx)
    options = ["--config", str(session.config)] if session.config else []
    if session.log_level:
        options += ["--log-level", session.log_level]
    idle = ["--idle-exit", repr(idle_exit)] if idle_exit is not None else []
    return [sys.executable, "-m", "skybridge.cli", *options, "worker", "run", *targets, *idle]


def _check_processes(apps: list[AppSpec], targets: list[str], idle_exit: float | None) -> None:
    """Refuse here, once, what each of the ``--workers`` processes would refuse."""
    if _needs_one_pipeline(targets, idle_exit) and _one_pipeline(apps, targets) is None:
        raise ValidationError(_ONE_PIPELINE)
    for target in targets:
        if ":" in target:
            getattr(load_pipeline(target), "close", lambda: None)()


def _run_background(background: Background) -> None:
    def stop(_signum: int, _frame: FrameType | None) -> None:
        background.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        background.start()
        background.wait()
    finally:
        background.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@worker_app.command("run")
def run(
    ctx: typer.Context,
    targets: Targets = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", min=1, max=MAX_WORKERS, help=f"Processes to run (1-{MAX_WORKERS})."
        ),
    ] = 1,
    idle_exit: Annotated[
        float | None,
        typer.Option(
            "--idle-exit",
            min=0,
            help="One pipeline only: stop after S seconds without records (with --workers, "
            "each process does; the command ends when all have).",
        ),
    ] = None,
) -> None:
    """Run until stopped; SIGTERM finishes each batch in flight and commits."""
    session = cli_session(ctx)
    settings = session.settings(service=True, queued_log=idle_exit is None)
    apps = discover_apps()
    names = list(targets or [])
    _check_targets(apps, names)
    if workers > 1:
        _check_processes(apps, names, idle_exit)
        raise typer.Exit(run_processes(_child_command(ctx, names, idle_exit), workers))
    if _needs_one_pipeline(names, idle_exit):
        pipeline = _single_pipeline(apps, names, settings)
        try:
            stats = run_worker(pipeline, idle_exit=idle_exit)
        finally:
            getattr(pipeline, "close", lambda: None)()
        session.out.print(
            f"Processed {stats.records} record(s) in {stats.batches} batch(es); "
            f"{stats.dead_letters} dead letter(s)."
        )
        return
    background = Background(apps, settings, only=names or None)
    if not background.parts:
        raise ValidationError("nothing to run: no app has background work")
    _run_background(background)

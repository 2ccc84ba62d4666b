"""``skybridge worker run PIPELINE``: run a stream pipeline until SIGTERM/SIGINT."""

from __future__ import annotations

from typing import Annotated

import typer

from skybridge.commands.session import cli_session
from skybridge.runtime.worker import load_pipeline, run_worker, run_workers

worker_app = typer.Typer(help="Run stream pipelines.", no_args_is_help=True)


@worker_app.command("run")
def run(
    ctx: typer.Context,
    pipeline: Annotated[
        str, typer.Argument(help="module:attribute, or a name registered by an app.")
    ],
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Processes in the consumer group.")
    ] = 1,
    idle_exit: Annotated[
        float | None,
        typer.Option("--idle-exit", help="Stop after S seconds without records (batch jobs)."),
    ] = None,
) -> None:
    """Consume, process and commit until stopped; SIGTERM finishes the batch and commits."""
    session = cli_session(ctx)
    session.settings(service=True)
    if workers > 1:
        code = run_workers(pipeline, workers, idle_exit=idle_exit)
        raise typer.Exit(code)
    stats = run_worker(load_pipeline(pipeline), idle_exit=idle_exit)
    session.out.print(
        f"Processed {stats.records} record(s) in {stats.batches} batch(es); "
        f"{stats.dead_letters} dead letter(s)."
    )

"""``skybridge layers rollout start|advance|rollback|list``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from skybridge.apps.kit.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    Json,
    app_context,
    cli_session,
    emit_json,
    report_error,
    result_table,
)
from skybridge.apps.layers import api
from skybridge.apps.layers.rollout import Rollout
from skybridge.core.errors import NotFound, ValidationError


@contextmanager
def named(ctx: typer.Context) -> Iterator[api.Context]:
    """The app's context; a name that does not exist is bad input (exit 2)."""
    try:
        yield app_context(ctx, "layers")
    except NotFound as exc:
        report_error(exc)
        raise typer.Exit(EXIT_BAD_INPUT) from None


rollout_app = typer.Typer(
    help="Gradual rollout of a layer version through a weighted alias.", no_args_is_help=True
)
Function = Annotated[str, typer.Argument(help="The function.")]
AliasOpt = Annotated[str, typer.Option("--alias", help="The alias that takes the traffic.")]


def _steps(text: str | None) -> list[float] | None:
    """The weights of ``--steps``; a list with a blank weight (or none) is refused, never
    taken for the default steps."""
    if text is None:
        return None
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        what = "holds no weight" if not any(parts) else "has a blank weight"
        raise ValidationError(
            f"--steps {text!r} {what}",
            hint="give weights rising between 0 and 1, e.g. 0.1,0.5; leave --steps out for "
            "the default (layers.rollout_steps)",
        )
    try:
        return [float(part) for part in parts]
    except ValueError:
        raise ValidationError(f"--steps {text!r}: give weights like 0.1,0.5") from None


def _show(ctx: typer.Context, rollout: Rollout, as_json: bool) -> None:
    if as_json:
        emit_json(rollout.to_dict())
    else:
        cli_session(ctx).out.print(
            f"{rollout.function}:{rollout.alias} {rollout.status}: version {rollout.candidate} "
            f"gets {rollout.weight:.0%} ({rollout.history[-1]})"
        )
    if rollout.status == "rolled-back":
        raise typer.Exit(EXIT_FAILED)


@rollout_app.command("start")
def start_command(
    ctx: typer.Context,
    function: Function,
    layer: Annotated[str, typer.Option("--layer", help="The layer version ARN to roll out.")],
    alias: AliasOpt = "live",
    steps: Annotated[
        str | None, typer.Option(help="Weights, e.g. 0.1,0.5 (default \\[layers] rollout_steps).")
    ] = None,
    alarm: Annotated[str | None, typer.Option(help="CloudWatch alarm that rolls back.")] = None,
    as_json: Json = False,
) -> None:
    """Publish a function version with the layer and send the first share of traffic to it."""
    weights = _steps(steps)
    with named(ctx) as app:
        found = api.start_rollout(app, function, alias, layer, steps=weights, alarm=alarm)
    _show(ctx, found, as_json)


@rollout_app.command("advance")
def advance_command(
    ctx: typer.Context, function: Function, alias: AliasOpt = "live", as_json: Json = False
) -> None:
    """Next step (or done); rolls back instead when the alarm is in ALARM."""
    with named(ctx) as app:
        found = api.advance_rollout(app, function, alias)
    _show(ctx, found, as_json)


@rollout_app.command("rollback")
def rollback_command(
    ctx: typer.Context, function: Function, alias: AliasOpt = "live", as_json: Json = False
) -> None:
    """All traffic back to the version before the rollout."""
    with named(ctx) as app:
        found = api.roll_back(app, function, alias)
    _show(ctx, found, as_json)


@rollout_app.command("list")
def list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """Every rollout and where it stands."""
    found = api.list_rollouts(app_context(ctx, "layers"))
    if as_json:
        emit_json([r.to_dict() for r in found])
        return
    table = result_table(
        "Rollouts", "function:alias", "status", "base", "candidate", "weight", "layer"
    )
    for r in found:
        table.add_row(
            f"{r.function}:{r.alias}",
            r.status,
            r.base,
            r.candidate,
            f"{r.weight:.0%}",
            r.layer,
        )
    cli_session(ctx).out.print(table if found else "No rollouts.")

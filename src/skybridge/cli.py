"""The ``skybridge`` command: Typer root; each installed app adds its own group.

Expected errors (``SkybridgeError``) print a red message and hint on stderr, never a traceback,
and exit 2 for bad input or configuration, 1 otherwise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from skybridge.apps import AppSpec, discover_apps
from skybridge.commands.check import check
from skybridge.commands.config import config_app
from skybridge.commands.session import CliSession, exit_code_for, report_error
from skybridge.commands.stream import stream_app
from skybridge.commands.token import token_app
from skybridge.commands.up import up
from skybridge.commands.worker import worker_app
from skybridge.core.errors import SkybridgeError
from skybridge.server.about import skybridge_version


class SkybridgeGroup(TyperGroup):
    """Turns a ``SkybridgeError`` raised anywhere below into a message and an exit code."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except SkybridgeError as exc:
            report_error(exc)
            raise typer.Exit(exit_code_for(exc)) from None


def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", help="Settings file (default ./skybridge.toml or $SKYBRIDGE_CONFIG)."
        ),
    ] = None,
    log_level: Annotated[
        str | None,
        typer.Option(
            "--log-level",
            help="DEBUG, INFO, WARNING or ERROR (default WARNING; `up` uses log.level).",
        ),
    ] = None,
) -> None:
    """Global options."""
    ctx.obj = CliSession(config=config, log_level=log_level)


def version() -> None:
    """Print the installed skybridge version."""
    typer.echo(f"skybridge {skybridge_version()}")


def installed_apps() -> list[AppSpec]:
    """The installed apps; a broken plug-in is reported and skipped so the CLI still works."""
    try:
        return discover_apps()
    except (SkybridgeError, ImportError) as exc:
        Console(stderr=True).print(f"[yellow]warning:[/] apps not loaded: {exc}")
        return []


def build_cli(apps: list[AppSpec]) -> typer.Typer:
    """The root command with the built-in commands and one group per app that has a CLI."""
    cli = typer.Typer(
        name="skybridge",
        cls=SkybridgeGroup,
        help="Cloud-data patterns across AWS and Oracle Cloud, on a laptop or in production.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold secrets
        rich_markup_mode="rich",
        add_completion=False,
    )
    cli.callback()(root)
    cli.command("version")(version)
    cli.add_typer(config_app, name="config")
    cli.add_typer(token_app, name="token")
    cli.command("check")(check)
    cli.command("up")(up)
    cli.add_typer(stream_app, name="stream")
    cli.add_typer(worker_app, name="worker")
    for spec in apps:
        if spec.cli is not None:
            cli.add_typer(spec.cli, name=spec.command, help=spec.description)
    return cli


app = build_cli(installed_apps())


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()

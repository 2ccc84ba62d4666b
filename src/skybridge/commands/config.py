"""``skybridge config show``: the effective settings, secrets masked."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from skybridge.apps.kit.cli import cli_session

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


def _flatten(data: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, str]]:
    """``section.key`` rows; a value nested deeper (an app's table of tables) is shown as JSON,
    so setting names stay short enough to leave the values room on a terminal."""
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and depth < 1:
            rows += _flatten(value, f"{name}.", depth + 1)
        elif isinstance(value, dict):
            rows.append((name, json.dumps(value, separators=(",", ":"), default=str)))
        else:
            rows.append((name, "—" if value is None else str(value)))
    return rows


@config_app.command("show")
def show(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Print every setting with its effective value; passwords and secrets are masked."""
    session = cli_session(ctx)
    masked = session.settings().masked()
    if as_json:
        typer.echo(json.dumps(masked, indent=2))
        return
    table = Table(title="skybridge settings", title_justify="left")
    table.add_column("setting", style="cyan", no_wrap=True)
    table.add_column("value", overflow="fold")
    for name, value in _flatten(masked):
        table.add_row(name, value)
    session.out.print(table)

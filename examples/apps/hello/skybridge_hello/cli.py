"""``skybridge hello greet NAME`` and ``skybridge hello list [--json]``."""

from __future__ import annotations

from typing import Annotated

import typer

from skybridge.apps.kit.cli import Json, app_context, cli_session, emit_json, result_table
from skybridge.core.errors import ValidationError
from skybridge_hello.greetings import counts, greet

hello_app = typer.Typer(help="Count greetings (an example app).", no_args_is_help=True)


@hello_app.command("greet")
def greet_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="Who.")]) -> None:
    """Greet someone; the counter pipeline counts it."""
    if not name.strip():
        raise ValidationError("give a name to greet")
    typer.echo(greet(app_context(ctx, "hello"), name.strip()))


@hello_app.command("list")
def list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """Greetings counted so far."""
    found = counts(app_context(ctx, "hello"))
    if as_json:
        emit_json(found)
        return
    table = result_table("Greetings", "name", "count")
    for name, n in sorted(found.items()):
        table.add_row(name, str(n))
    cli_session(ctx).out.print(table if found else "No greetings yet.")

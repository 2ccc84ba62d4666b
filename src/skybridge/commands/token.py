"""``skybridge token create|list|revoke``: API tokens for the service and dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from skybridge.apps.kit.cli import cli_session, console, styled
from skybridge.apps.kit.manifest import discover_apps
from skybridge.auth.scopes import ROLES, ScopeCatalog
from skybridge.auth.store import open_token_store
from skybridge.auth.tokens import TokenStore

token_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
OWNER = frozenset({"admin"})  # the CLI runs as the owner of the service's database


@contextmanager
def open_store(ctx: typer.Context) -> Iterator[TokenStore]:
    """The token store in the service's own database (``server.database``)."""
    with open_token_store(cli_session(ctx).settings()) as store:
        yield store


@token_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name, e.g. ci-deploy.")],
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help=f"A role ({', '.join(ROLES)}) or a scope such as assertions:apply; repeat "
            "for more (default: read).",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token. Its value is printed once; only a hash is stored."""
    catalog = ScopeCatalog.build(app.scopes for app in discover_apps())
    grant = catalog.check_grant(scope or ["read"], OWNER)
    with open_store(ctx) as store:
        info, token = store.create(name, grant)
    if as_json:
        typer.echo(json.dumps({**info.as_dict(), "token": token.reveal()}, indent=2))
        return
    out = cli_session(ctx).out
    out.print(
        styled(
            "[green]Created token[/] [bold]{}[/] ({}). Copy it now; it is not shown again:",
            info.name,
            " ".join(sorted(grant)),
        )
    )
    typer.echo(token.reveal())
    console(stderr=True).print(
        styled(
            "[dim]Use it as 'Authorization: Bearer <token>' or sign in to the dashboard with it.[/]"
        )
    )


@token_app.command("list")
def list_tokens(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List tokens (names, prefixes and dates; never their values)."""
    with open_store(ctx) as store:
        tokens = store.list()
    if as_json:
        typer.echo(json.dumps([t.as_dict() for t in tokens], indent=2))
        return
    table = Table(title="API tokens", title_justify="left")
    for column in ("name", "scopes", "prefix", "created", "last used", "status"):
        table.add_column(column)
    for t in tokens:
        status = styled("[green]active[/]") if t.active else styled("[dim]revoked[/]")
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "—"
        created = t.created_at.strftime("%Y-%m-%d %H:%M")
        scopes = " ".join(sorted(t.scopes))
        table.add_row(t.name, scopes, f"{t.prefix}…", created, used, status)
    cli_session(ctx).out.print(table)


@token_app.command("revoke")
def revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]
) -> None:
    """Revoke a token: requests and dashboard sessions using it are refused from now on."""
    with open_store(ctx) as store:
        store.revoke(name)
    cli_session(ctx).out.print(styled("Revoked token [bold]{}[/].", name))

"""``skybridge check``: connect to every configured backend and report."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from skybridge.apps.kit.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    cli_session,
    console,
    styled,
)
from skybridge.apps.kit.manifest import discover_apps
from skybridge.server.health import DEFAULT_TIMEOUT, BackendStatus, probe_all

_STYLE = {"ok": "green", "unreachable": "red", "misconfigured": "yellow"}


def _exit_code(statuses: list[BackendStatus]) -> int:
    if any(s.status == "misconfigured" for s in statuses):
        return EXIT_BAD_INPUT
    if any(s.status == "unreachable" for s in statuses):
        return EXIT_FAILED
    return EXIT_OK


def _table(statuses: list[BackendStatus]) -> Table:
    table = Table(title="skybridge backends", title_justify="left")
    for column in ("name", "scheme", "url", "status"):
        table.add_column(column, overflow="fold")
    table.add_column("latency", justify="right")
    for s in statuses:
        style = _STYLE[s.status]
        latency = f"{s.latency_ms:.1f} ms" if s.latency_ms is not None else "—"
        table.add_row(s.name, s.scheme, s.url, styled("[" + style + "]{}[/]", s.status), latency)
    return table


def _explain(statuses: list[BackendStatus]) -> None:
    err = console(stderr=True)
    for s in statuses:
        if s.ok:
            continue
        style = _STYLE[s.status]
        err.print(styled("[" + style + "]{}[/]: {}: {}", s.setting, s.error, s.message))
        if s.hint:
            err.print(styled("  [yellow]hint:[/] {}", s.hint))


def role_warnings(statuses: list[BackendStatus], url: str) -> list[str]:
    """Warnings about the SQL role user SQL runs as (when ``backends.sql`` answered)."""
    if not any(s.name == "sql" and s.ok for s in statuses):
        return []
    from skybridge.backends.sql import create_sql_engine, sql_role_warnings
    from skybridge.core.errors import SkybridgeError

    engine = create_sql_engine(url, setting="backends.sql")
    try:
        return sql_role_warnings(engine)
    except SkybridgeError as exc:
        return [f"could not check the database role: {exc}"]
    finally:
        engine.dispose()


def check(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for each backend.")
    ] = DEFAULT_TIMEOUT,
) -> None:
    """Connect to each configured backend.

    Exit 0 when all answer, 1 when one is unreachable, 2 when a setting is wrong
    (unknown scheme, bad URL, missing optional package).
    """
    session = cli_session(ctx)
    settings = session.settings()
    statuses = probe_all(settings, timeout=timeout, apps=discover_apps())
    warnings = role_warnings(statuses, settings.backends.sql)
    code = _exit_code(statuses)
    if as_json:
        report = {
            "ok": code == EXIT_OK,
            "backends": [s.as_dict() for s in statuses],
            "warnings": warnings,
        }
        typer.echo(json.dumps(report, indent=2))
    else:
        session.out.print(_table(statuses))
        _explain(statuses)
        err = console(stderr=True)
        for warning in warnings:
            err.print(styled("[yellow]warning:[/] backends.sql: {}", warning))
    raise typer.Exit(code)

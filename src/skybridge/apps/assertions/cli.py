"""``skybridge assert ...``: apply, compile, list, check, explain, enable, disable, drop.

Exit codes: 0 ok, 1 a check found violating rows (or a write violated an assertion), 2 bad
input (SQL that does not parse or that the database rejects, an unknown assertion, a
nondeterministic expression, a bad or empty ``--db`` URL, a SQLite file that does not exist
for a command that does not create one: all but ``apply``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import Engine

from skybridge.apps.assertions import api
from skybridge.apps.assertions.created_database import removed_if_failed
from skybridge.apps.assertions.errors import AssertionViolation
from skybridge.apps.assertions.naming import check_name, quote_ident
from skybridge.apps.assertions.script import split_script
from skybridge.apps.assertions.shared import database_errors, open_engine, summary
from skybridge.apps.kit.cli import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    cli_session,
    counted,
    report_error,
    styled,
)
from skybridge.core.errors import ConfigError, NotFound, ValidationError

assert_app = typer.Typer(
    help="SQL assertions (CREATE ASSERTION) on PostgreSQL and SQLite.", no_args_is_help=True
)
Db = Annotated[
    str | None,
    typer.Option("--db", help="Database URL (default: the configured backends.sql)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
Name = Annotated[str, typer.Argument(help="The assertion's name.")]
ScriptFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="A .sql script.")
]
Timeout = Annotated[
    float,
    typer.Option("--statement-timeout", min=0, help="Seconds a statement may run (0: no limit)."),
]
FromDialect = Annotated[
    str | None,
    typer.Option("--from", help="Translate plain statements written for this database (oracle)."),
]


@contextmanager
def database(ctx: typer.Context, db: str | None, *, creates: bool = False) -> Iterator[Engine]:
    """An engine on ``--db`` (else ``backends.sql``); unknown names and rejected SQL exit 2.

    Only a command that ``creates`` (apply) may make a SQLite file that is missing, and it
    removes that file again when it fails; the others refuse a missing file (a typo).
    """
    settings = cli_session(ctx).settings()  # configures logging even when --db is given
    if db is not None and not db.strip():  # not "use the default": a variable that was unset
        raise ConfigError(
            "--db is empty; give a database URL or leave it out",
            setting="--db",
            hint="for example --db sqlite:///app.db or --db postgresql://user@host/db",
        )
    url = db or settings.backends.sql  # the app's backend: core's sql
    setting = "--db" if db else "backends.sql"
    made = removed_if_failed(url, setting) if creates else nullcontext()
    try:
        with (
            made,
            open_engine(url, setting, settings.data_dir, create=creates) as engine,
            database_errors(),
        ):
            yield engine
    except NotFound as exc:
        report_error(exc)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except AssertionViolation as exc:
        report_error(exc)
        _print_rows(ctx, exc.name, exc.rows)
        raise typer.Exit(EXIT_FAILED) from None


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _print_rows(ctx: typer.Context, name: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = Table(title=f"{name}: violating rows", title_justify="left")
    columns = list(dict.fromkeys(k for row in rows for k in row))
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    cli_session(ctx).out.print(table)


@assert_app.command("apply")
def apply(
    ctx: typer.Context,
    file: ScriptFile,
    db: Db = None,
    as_json: Json = False,
    from_dialect: FromDialect = None,
    timeout: Timeout = api.DEFAULT_STATEMENT_TIMEOUT,
) -> None:
    """Run a script (plain DDL/DML mixed with CREATE/ALTER/DROP ASSERTION) in one transaction."""
    script = file.read_text()
    if not split_script(script, str(file)):
        raise ValidationError(
            f"{file} holds no SQL statement", hint="give a .sql file of statements ending in ;"
        )
    with database(ctx, db, creates=True) as engine:
        done = api.apply(
            script, engine, source=str(file), from_dialect=from_dialect, timeout=timeout or None
        )
        names = [e.name for e in api.list_assertions(engine)]
    if as_json:
        _emit_json({"steps": done, "assertions": names})
        return
    out = cli_session(ctx).out
    for line in done:
        if line.startswith("warning: "):
            out.print(styled("  [yellow]![/] {}", line))
        else:
            out.print(styled("  [green]✓[/] {}", line))
    out.print(
        f"Applied {counted(len(done), 'step')}; {counted(len(names), 'assertion')} in the catalog."
    )


@assert_app.command("compile")
def compile_(
    file: ScriptFile,
    dialect: Annotated[str, typer.Option(help="postgresql or sqlite.")] = "postgresql",
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Emit the SQL enforcing the script's assertions (for migration tools); no database."""
    sql = api.compile(file.read_text(), dialect)
    if output is None:
        typer.echo(sql, nl=False)
    else:
        output.write_text(sql)
        typer.echo(f"wrote {output}", err=True)


@assert_app.command("list")
def list_(ctx: typer.Context, db: Db = None, as_json: Json = False) -> None:
    """The assertions in the catalog: state, tables guarded, lock scope."""
    with database(ctx, db) as engine:
        rows = [summary(e) for e in api.list_assertions(engine)]
    if as_json:
        _emit_json(rows)
        return
    table = Table(title="Assertions", title_justify="left")
    for column in ("name", "state", "tables", "lock scope"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = "[green]enabled[/]" if row["enabled"] else "[dim]disabled[/]"
        if row["enabled"] and not row["validated"]:
            state += " [yellow]novalidate[/]"
        if row["deferrable"]:
            state += " deferred" if row["initially_deferred"] else " deferrable"
        table.add_row(row["name"], styled(state), ", ".join(row["tables"]), row["lock_scope"])
    cli_session(ctx).out.print(table if rows else "No assertions yet.")


@assert_app.command("check")
def check(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="One assertion (default: all).")] = None,
    db: Db = None,
    as_json: Json = False,
    limit: Annotated[int, typer.Option(min=1, help="Violating rows shown per assertion.")] = 100,
    timeout: Timeout = api.DEFAULT_STATEMENT_TIMEOUT,
) -> None:
    """Fully re-check assertions against the data. Exit 1 when any has violating rows."""
    with database(ctx, db) as engine:
        results = api.check(engine, name, limit=limit, timeout=timeout or None)
    failed = [r for r in results if not r.ok]
    if as_json:
        _emit_json([{"name": r.name, "ok": r.ok, "rows": r.rows} for r in results])
    else:
        out = cli_session(ctx).out
        table = Table(title="Assertion check", title_justify="left")
        for column in ("name", "result"):
            table.add_column(column)
        for r in results:
            verdict = (
                styled("[green]holds[/]")
                if r.ok
                else styled("[red]{}[/]", counted(len(r.rows), "violating row"))
            )
            table.add_row(r.name, verdict)
        out.print(table)
        for r in failed:
            _print_rows(ctx, r.name, r.rows)
    if failed:
        raise typer.Exit(EXIT_FAILED)


@assert_app.command("explain")
def explain(ctx: typer.Context, name: Name, db: Db = None, as_json: Json = False) -> None:
    """The checks generated for an assertion and the operations they guard."""
    with database(ctx, db) as engine:
        info = api.explain(engine, name)
    if as_json:
        _emit_json(info)
        return
    out = cli_session(ctx).out
    out.print(styled("[bold]{}[/]  {}", info["name"], info["state"]))
    out.print(f"lock scope: {info['lock_scope']}   key: {', '.join(info['key'] or ['—'])}")
    if info.get("locking"):
        out.print(f"locking: {info['locking']}", markup=False)
    table = Table(title="Guarded operations", title_justify="left")
    for column in ("table", "operation", "checks"):
        table.add_column(column)
    for guard in info["guards"]:
        table.add_row(guard["table"], guard["operation"], ", ".join(guard["checks"]))
    out.print(table)
    out.print(styled("[bold]Violation query[/] (full check):"))
    out.print(info["violation_query"], markup=False)
    out.print(
        styled("[dim]{} generated statements (--json shows them)[/]", len(info["statements"]))
    )
    for warning in info.get("warnings", []):
        out.print(styled("[yellow]warning:[/] {}", warning))


def _alter(ctx: typer.Context, db: str | None, name: str, statement: str, verb: str) -> None:
    quoted = quote_ident(check_name(name))
    with database(ctx, db) as engine:
        if name.lower() not in {e.name for e in api.list_assertions(engine)}:
            raise NotFound(f"assertion {name} does not exist", hint="see `skybridge assert list`")
        api.apply(statement.format(name=quoted), engine)
    cli_session(ctx).out.print(styled("{} assertion [bold]{}[/].", verb, name))


@assert_app.command("enable")
def enable(
    ctx: typer.Context,
    name: Name,
    db: Db = None,
    validate: Annotated[
        bool, typer.Option("--validate/--novalidate", help="Check existing data first.")
    ] = True,
) -> None:
    """Enable an assertion (VALIDATE checks existing data first; exit 1 if it fails)."""
    words = "ENABLE VALIDATE" if validate else "ENABLE NOVALIDATE"
    _alter(ctx, db, name, f"ALTER ASSERTION {{name}} {words}", "Enabled")


@assert_app.command("disable")
def disable(ctx: typer.Context, name: Name, db: Db = None) -> None:
    """Disable an assertion: its triggers are dropped, its definition kept."""
    _alter(ctx, db, name, "ALTER ASSERTION {name} DISABLE", "Disabled")


@assert_app.command("drop")
def drop(ctx: typer.Context, name: Name, db: Db = None) -> None:
    """Drop an assertion and everything that enforced it."""
    _alter(ctx, db, name, "DROP ASSERTION {name}", "Dropped")

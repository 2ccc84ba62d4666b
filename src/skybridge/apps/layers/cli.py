"""``skybridge layers ...``: build, show, list, publish, prune, usage and rollouts.

Exit codes: 0 ok; 1 a build that must not ship (budget, smoke test or scan) or a rollout
rolled back; 2 bad input (a missing file, an unknown runtime, a layer without a build, the
publish of a build with problems without ``--force``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import SpinnerColumn, TimeElapsedColumn

from skybridge.apps.kit.cli import (
    EXIT_FAILED,
    Json,
    app_context,
    cli_session,
    emit_json,
    progress_bar,
    result_table,
    styled,
)
from skybridge.apps.layers import api
from skybridge.apps.layers.cli_rollout import named, rollout_app
from skybridge.apps.layers.cli_views import mb, print_report
from skybridge.core.errors import NotFound

layers_app = typer.Typer(
    help="Build, scan, publish, prune and roll out Lambda layers.", no_args_is_help=True
)
layers_app.add_typer(rollout_app, name="rollout")
Name = Annotated[str, typer.Argument(help="The layer's name.")]


def _ctx(ctx: typer.Context) -> api.Context:
    return app_context(ctx, "layers")


@layers_app.command("build")
def build_command(
    ctx: typer.Context,
    name: Name,
    requirements: Annotated[
        Path, typer.Option("-r", "--requirements", help="requirements.txt or lock file.")
    ],
    runtime: Annotated[str | None, typer.Option(help="python3.10 ... python3.14.")] = None,
    arch: Annotated[str | None, typer.Option("--arch", help="x86_64 or arm64.")] = None,
    precompile: Annotated[
        bool | None,
        typer.Option("--precompile/--no-precompile", help="Ship bytecode for the target Python."),
    ] = None,
    smoke: Annotated[
        bool, typer.Option("--smoke/--no-smoke", help="Run the import smoke test.")
    ] = True,
    scan: Annotated[
        bool, typer.Option("--scan/--no-scan", help="Scan vulnerabilities and licences.")
    ] = True,
    code: Annotated[Path | None, typer.Option(help="First-party code to scan with bandit.")] = None,
    cold_start: Annotated[
        bool, typer.Option("--cold-start", help="Time imports with and without bytecode.")
    ] = False,
    fail_on: Annotated[
        str | None, typer.Option(help="low, medium, high, critical or never.")
    ] = None,
    as_json: Json = False,
) -> None:
    """Build a layer for a runtime and architecture; smoke-test, scan and record it."""
    app = _ctx(ctx)
    with progress_bar(
        SpinnerColumn(),
        TimeElapsedColumn(),
        transient=True,
        disable=as_json,
    ) as bar:
        task = bar.add_task(f"building {name}", total=None)

        def tell(stage: str, detail: str) -> None:
            bar.update(task, description=f"{name}: {stage} {detail}".strip())

        found = api.build(
            app,
            name,
            requirements,
            runtime=runtime,
            architecture=arch,
            precompile=precompile,
            smoke=smoke,
            scan=scan,
            code=code,
            measure_cold_start=cold_start,
            fail_on=fail_on,
            progress=tell,
        )
    record = found.to_dict()
    if as_json:
        emit_json(record)
    else:
        print_report(cli_session(ctx).out, record)
    if record["problems"]:
        raise typer.Exit(EXIT_FAILED)


@layers_app.command("show")
def show_command(ctx: typer.Context, name: Name, as_json: Json = False) -> None:
    """The newest build of a layer: sizes, packages, smoke test, findings."""
    with named(ctx) as app:
        record = api.latest(app, name)
    if as_json:
        emit_json(record)
    else:
        print_report(cli_session(ctx).out, record)


@layers_app.command("list")
def list_command(ctx: typer.Context, as_json: Json = False) -> None:
    """The newest build of every layer."""
    found = api.builds(_ctx(ctx))
    if as_json:
        emit_json([_summary(r) for r in found])
        return
    table = result_table(
        "Layer builds", "layer", "target", "zipped", "unzipped", "packages", "status"
    )
    for r in found:
        status = (
            styled("[green]ok[/]")
            if r["passed"]
            else styled("[red]{}[/]", "; ".join(r["problems"]))
        )
        table.add_row(
            r["name"],
            f"{r['runtime']}/{r['architecture']}",
            mb(r["zipped"]),
            mb(r["unzipped"]),
            str(len(r["packages"])),
            status,
        )
    cli_session(ctx).out.print(table if found else "No layer built yet.")


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "name",
        "runtime",
        "architecture",
        "digest",
        "zipped",
        "unzipped",
        "passed",
        "problems",
        "built_at",
    )
    return {k: record[k] for k in keys}


@layers_app.command("publish")
def publish_command(
    ctx: typer.Context,
    name: Name,
    force: Annotated[
        bool, typer.Option("--force", help="Publish even a build with problems.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Publish the newest build (nothing new if that digest is already the newest version)."""
    with named(ctx) as app:
        published = api.publish(app, name, force=force)
    if as_json:
        emit_json(published.to_dict())
        return
    word = "published" if published.new else "unchanged, already"
    cli_session(ctx).out.print(
        f"{name}: {word} version {published.layer.version} "
        f"({published.layer.arn}); grants: {', '.join(published.grants) or 'none'}"
    )


@layers_app.command("prune")
def prune_command(
    ctx: typer.Context,
    name: Name,
    keep: Annotated[
        int | None, typer.Option(min=1, help="Newest versions kept (default \\[layers] keep).")
    ] = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Delete; without it, only show the plan.")
    ] = False,
    as_json: Json = False,
) -> None:
    """Delete old versions no function uses (a plan unless --apply)."""
    plan = api.prune(_ctx(ctx), name, keep=keep, dry_run=not apply)
    if as_json:
        emit_json(plan.to_dict())
        return
    title = f"Prune {name} (keep {plan.keep}){'' if apply else ': plan only, --apply deletes'}"
    table = result_table(title, "version", "action", "reason")
    for step in plan.steps:
        colour = "red" if step.action == "delete" else "green"
        table.add_row(str(step.version), styled("[" + colour + "]{}[/]", step.action), step.reason)
    cli_session(ctx).out.print(table if plan.steps else f"Layer {name} has no versions.")


@layers_app.command("usage")
def usage_command(
    ctx: typer.Context,
    layer: Annotated[
        list[str] | None,
        typer.Option("--layer", help="Only this published layer (repeat for several)."),
    ] = None,
    as_json: Json = False,
) -> None:
    """Which functions use which layer versions, and who lags behind the newest.

    A --layer with no published version is refused (exit 2), as prune refuses it.
    """
    rows = api.usage(_ctx(ctx), layer or None)
    _refuse_unpublished(layer or [], rows)
    if as_json:
        emit_json(rows)
        return
    table = result_table("Layer usage", "layer", "version", "size", "used by")
    for r in rows:
        users = ", ".join(r["users"]) or styled("[dim]unused[/]")
        mark = "" if r["newest"] else (" [yellow](older)[/]" if r["users"] else "")
        table.add_row(r["layer"], styled("{}" + mark, r["version"]), mb(r["code_size"]), users)
    cli_session(ctx).out.print(table if rows else "No layers published.")


def _refuse_unpublished(layers: list[str], rows: list[dict[str, Any]]) -> None:
    published = {r["layer"] for r in rows}
    missing = [name for name in dict.fromkeys(layers) if name not in published]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        words = "layer {} has" if len(missing) == 1 else "layers {} have"
        raise NotFound(
            f"{words.format(names)} no published version",
            hint="see: skybridge layers usage (every published layer)",
        )

"""``skybridge up``: run the HTTP service and dashboard (``--demo``: a ready-made local setup)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from skybridge.apps import AppSpec, discover_apps
from skybridge.auth.tokens import TokenStore
from skybridge.backends.sql import create_sql_engine
from skybridge.commands.session import cli_session
from skybridge.core.config import BackendsConfig, Settings
from skybridge.core.errors import SkybridgeError

DEMO_TOKEN_NAME = "demo"  # noqa: S105 - a name, not a credential
DEMO_TOKEN_FILE = "demo-token"  # noqa: S105 - a file name


def demo_settings(settings: Settings) -> Settings:
    """``settings`` with every backend embedded under ``<data_dir>/demo``."""
    root = (Path(settings.data_dir) / "demo").resolve()
    root.mkdir(parents=True, exist_ok=True)
    backends = BackendsConfig(
        kv=f"sqlite:///{root}/kv.db",
        objects=f"file://{root}/objects",
        secrets=f"local://{root}/secrets",
        notify="console://",
        sql=f"sqlite:///{root}/skybridge.db",
    )
    return settings.model_copy(update={"data_dir": root, "backends": backends})


def ensure_demo_token(settings: Settings) -> tuple[str, Path]:
    """The demo token (reused while it still works, else replaced), and the file keeping it."""
    path = Path(settings.data_dir) / DEMO_TOKEN_FILE
    engine = create_sql_engine(settings.backends.sql, setting="backends.sql")
    try:
        store = TokenStore(engine)
        if path.is_file():
            existing = path.read_text().strip()
            principal = store.verify(existing)
            if principal is not None and principal.name == DEMO_TOKEN_NAME:
                return existing, path
        store.delete(DEMO_TOKEN_NAME)
        _, token = store.create(DEMO_TOKEN_NAME)
    finally:
        engine.dispose()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token.reveal())
    return token.reveal(), path


def seed_demo(settings: Settings, apps: list[AppSpec]) -> None:
    """Run each app's ``demo`` hook against the demo backends (hooks are idempotent).

    A failing hook is reported and skipped: the service still starts without that demo data.
    """
    for spec in apps:
        if spec.demo is None:
            continue
        try:
            spec.demo(settings)
        except SkybridgeError as exc:
            Console(stderr=True).print(
                f"[yellow]warning:[/] {spec.name} demo data not loaded: {exc}"
            )


def up(
    ctx: typer.Context,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Use embedded backends in <data_dir>/demo and a demo token."),
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default server.host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default server.port, 8080).")] = None,
) -> None:
    """Run the HTTP API and dashboard until interrupted."""
    import uvicorn

    from skybridge.server import create_app

    settings = cli_session(ctx).settings(service=True)
    apps = discover_apps()
    if demo:
        settings = demo_settings(settings)
        seed_demo(settings, apps)
    host = host or settings.server.host
    port = port or settings.server.port
    app = create_app(settings, apps=apps)
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/"  # noqa: S104
    lines = [f"[bold]skybridge[/] dashboard: [bold]{url}[/]  (API docs: {url}docs)"]
    if demo:
        token, path = ensure_demo_token(settings)
        lines += [
            f"Demo data: {settings.data_dir}",
            f"[bold yellow]DEMO token[/] for this local demo only (also kept in {path}):",
            f"  [bold]{token}[/]",
        ]
    if host not in ("127.0.0.1", "localhost", "::1"):
        lines.append(f"[yellow]Listening on {host}: reachable from other machines.[/]")
    for line in lines:
        console.print(line)
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False, server_header=False)

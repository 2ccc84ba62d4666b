"""``skybridge up``: run the HTTP service and dashboard (``--demo``: a ready-made local setup).

It serves HTTPS with ``--tls-cert``/``--tls-key`` and refuses plain HTTP on an address other
machines can reach unless ``--insecure-bind`` says a TLS-terminating proxy is in front
(:mod:`skybridge.server.transport`).

The service also runs the apps' background work (pipelines, services, scheduled jobs) unless
``--no-background`` (or ``server.background = false``) says that ``skybridge worker``
processes do it. ``--demo`` serves the embedded backends under ``data_dir``, seeds each app's
demo data and starts the demo services. It sets aside every backend URL ``skybridge.toml`` or
the environment configures, in ``[backends]`` and in the apps' own sections
(``features.online``...), and says which (:mod:`skybridge.commands.demo_backends`): all of its
data is in ``data_dir``, the same data the plain CLI uses in that directory when none is set.
"""

from __future__ import annotations

import errno
import gc
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from skybridge.apps.kit.cli import cli_session, console, styled
from skybridge.apps.kit.context import DEMO_TOKEN_FILE, AppContext
from skybridge.apps.kit.manifest import AppSpec, discover_apps
from skybridge.auth.store import open_token_store
from skybridge.commands.demo_backends import demo_settings, set_aside
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError, SkybridgeError
from skybridge.core.log_output import drain_service_output
from skybridge.server.transport import Transport, resolve_transport

DEMO_TOKEN_NAME = "demo"  # noqa: S105 - a name, not a credential


def set_aside_notice(names: Sequence[str]) -> str:
    """What the demo says about the configured backend settings it does not use (their names
    only: a URL may hold credentials)."""
    return (
        f"the demo sets aside {', '.join(names)} (configured in skybridge.toml or the "
        "environment) and uses its embedded backends instead"
    )


def ensure_demo_token(settings: Settings) -> tuple[str, Path]:
    """The demo token (reused while it still works, else replaced), and the file keeping it."""
    path = Path(settings.data_dir) / DEMO_TOKEN_FILE
    with open_token_store(settings) as store:
        if path.is_file():
            existing = path.read_text().strip()
            principal = store.verify(existing)
            if principal is not None and principal.name == DEMO_TOKEN_NAME:
                return existing, path
        store.delete(DEMO_TOKEN_NAME)
        _, token = store.create(DEMO_TOKEN_NAME, ["admin"])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token.reveal())
    return token.reveal(), path


def seed_demo(settings: Settings, apps: list[AppSpec]) -> list[str]:
    """Run each app's ``demo`` hook against the demo backends (hooks are idempotent); a hook
    marked ``demo_background`` is left to the background work, which runs it once the service
    is up.

    A failing hook is reported and skipped: the service still starts without that demo data.
    Returns the names of the apps whose demo data is in place.
    """
    seeded = []
    for spec in apps:
        if spec.demo is None or spec.demo_background:
            continue
        try:
            spec.load("demo")(AppContext.create(spec, settings, demo=True))
        except SkybridgeError as exc:
            console(stderr=True).print(
                styled("[yellow]warning:[/] {} demo data not loaded: {}", spec.name, exc)
            )
        else:
            seeded.append(spec.name)
    return seeded


def check_port(host: str, port: int) -> None:
    """Refuse a port that cannot be bound before anything is printed or started."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            reason = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound: {exc}"
            raise ConfigError(
                f"port {port} on {host} {reason}",
                setting="--port",
                hint="stop what is listening there, or pick another with --port",
            ) from None


def _banner(
    url: str,
    demo: bool,
    token: str | None,
    path: Path | None,
    data: Path,
    tries: list[str],
    aside: Sequence[str] = (),
) -> list[Text]:
    lines = [styled("[bold]skybridge[/] dashboard: [bold]{}[/]  (API docs: {}docs)", url, url)]
    if demo and token is not None:
        lines += _data_lines(data, aside)
        lines += [
            styled("[bold yellow]Demo token[/] (for this local demo; also in {}):", path),
            styled("  [bold]{}[/]", token),
            Text("Try, in another terminal here (with .venv/bin on PATH):"),
            *(Text(f"  {line}") for line in tries),
            Text("  skybridge worker list"),
        ]
    return lines


def _data_lines(data: Path, aside: Sequence[str]) -> list[Text]:
    """Where the demo's data is, and whether the CLI here sees it."""
    if not aside:
        return [Text(f"Demo data in {data}; the CLI in this directory uses the same data.")]
    return [
        Text(f"Demo data in {data}, all of it: {set_aside_notice(aside)}."),
        styled(
            "[yellow]The CLI in this directory still uses {}: for those it does not see the "
            "demo's data.[/]",
            ", ".join(aside),
        ),
    ]


def _exposure(transport: Transport) -> list[Text]:
    """Banner lines saying who can reach the service, and how safely."""
    if transport.loopback:
        return []
    lines = [styled("[yellow]Listening on {}: reachable from other machines.[/]", transport.host)]
    if not transport.tls:
        lines.append(
            styled(
                "[yellow]Plain HTTP (--insecure-bind): keep a TLS-terminating proxy in front; "
                "X-Forwarded-* trusted from {}.[/]",
                transport.forwarded_allow_ips,
            )
        )
    return lines


def up(
    ctx: typer.Context,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Embedded backends in data_dir, demo data and a token."),
    ] = False,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default server.host, 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port (default server.port, 8080)."),
    ] = None,
    background: Annotated[
        bool | None,
        typer.Option(
            "--background/--no-background",
            help="Run the apps' pipelines and jobs here (default server.background).",
        ),
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(help="PEM certificate chain: serve HTTPS (default server.tls_cert)."),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(help="PEM private key of --tls-cert (default server.tls_key)."),
    ] = None,
    insecure_bind: Annotated[
        bool,
        typer.Option(
            "--insecure-bind",
            help="Allow plain HTTP on a non-loopback address: only behind a TLS proxy.",
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Proxies whose X-Forwarded-For/-Proto are trusted, comma-separated "
            "(default server.forwarded_allow_ips, 127.0.0.1).",
        ),
    ] = None,
) -> None:
    """Run the HTTP API and dashboard until interrupted."""
    import uvicorn

    from skybridge.server import create_app

    settings = cli_session(ctx).settings(service=True)
    apps = discover_apps()
    transport = resolve_transport(
        settings.server,
        host=host,
        port=port,
        cert=tls_cert,
        key=tls_key,
        insecure_bind=insecure_bind,
        forwarded_allow_ips=forwarded_allow_ips,
    )
    check_port(transport.host, transport.port)
    aside: list[str] = []
    if demo:
        aside = set_aside(settings, apps)
        settings = demo_settings(settings, apps)
        if aside:
            console(stderr=True).print(styled("[yellow]warning:[/] {}", set_aside_notice(aside)))
        seed_demo(settings, apps)
    run_background = settings.server.background if background is None else background
    app = create_app(settings, apps=apps, demo=demo, background=run_background)
    token, path = ensure_demo_token(settings) if demo else (None, None)
    tries = [line for spec in apps for line in spec.demo_try]
    lines = _banner(transport.url(), demo, token, path, Path(settings.data_dir), tries, aside)
    lines += _exposure(transport)

    def ready() -> None:
        """The block people read, after the start-up log lines rather than among them."""
        drain_service_output(0.5)  # they go out through a thread of their own
        err = console(stderr=True)
        err.print()
        for line in lines:
            err.print(line)
        err.print()

    config: dict[str, Any] = {"log_config": None, "access_log": False, "server_header": False}
    config.update(transport.uvicorn_options())
    serve(uvicorn.Config(app, host=transport.host, port=transport.port, **config), ready)


def serve(config: Any, ready: Any) -> None:
    """Run uvicorn; call ``ready()`` once it listens (after its own start-up lines).

    While it runs, what the service has imported is kept out of the garbage collector's full
    passes, which otherwise held the GIL (and ``/healthz``) for hundreds of milliseconds each
    (:mod:`skybridge.server.heap`).
    """
    import uvicorn

    from skybridge.apps.kit.background import seeds_running
    from skybridge.core.observability import get_logger
    from skybridge.server.heap import ImportFreezer

    freezer = ImportFreezer()

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            freezer.start()  # before it listens: its full collection holds up no request
            await super().startup(sockets)
            if self.started:
                ready()

        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                try:
                    yield
                finally:
                    # uvicorn raises the signal that stopped it again once it has shut down,
                    # which ends the process at once: the last log lines go out first
                    drain_service_output()

    try:
        Server(config).run()
    finally:
        freezer.stop()
    # The service holds nothing open now. The interpreter's last collection would walk every
    # object still alive (a loaded model is millions): seconds spent freeing memory the exit
    # frees anyway. Frozen objects are left out of it.
    gc.freeze()
    if unfinished := seeds_running():
        # Everything the service holds is closed; a demo seed may still be loading a model in
        # native code, which would hold the interpreter's exit or abort it.
        get_logger(__name__).info(
            "up.seed_left_running", seeds=unfinished, note="the next start finishes it"
        )
        drain_service_output()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

"""The ``skybridge`` command: Typer root; each installed app adds its own group.

Commands are loaded lazily: ``skybridge --help`` reads the app manifests (names and one-line
descriptions) and imports no command or app implementation; ``skybridge secrets status``
imports the secretsync CLI and nothing of the other apps.

Expected errors (``SkybridgeError``) print a red message and hint on stderr, never a traceback,
and exit 2 for bad input or configuration, 1 otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

from skybridge.core.errors import SkybridgeError, ValidationError, shown

if TYPE_CHECKING:
    from skybridge.apps.kit.manifest import AppSpec

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_Command = TypeVar("_Command", bound=Callable[..., Any])
#: The attribute :func:`keeps_bytes` sets on a command function.
_KEEPS_BYTES = "skybridge_keeps_bytes"


@dataclass(frozen=True)
class LazyCommand:
    """A command known by name and help text, imported when it runs: ``module:attribute`` (or
    the object itself) is a ``typer.Typer`` group or a command function."""

    ref: object
    help: str


BUILTIN: dict[str, LazyCommand] = {
    "config": LazyCommand("skybridge.commands.config:config_app", "Inspect the settings."),
    "token": LazyCommand("skybridge.commands.token:token_app", "Create, list and revoke tokens."),
    "check": LazyCommand("skybridge.commands.check:check", "Connect to every backend."),
    "up": LazyCommand("skybridge.commands.up:up", "Run the HTTP service and dashboard."),
    "stream": LazyCommand("skybridge.commands.stream:stream_app", "Produce, consume, inspect."),
    "worker": LazyCommand("skybridge.commands.worker:worker_app", "Run pipelines and jobs."),
}


def _click_command(name: str, target: Any, help_text: str) -> Any:
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        group.help = group.help or help_text
        return group
    wrapper = typer.Typer(add_completion=False)  # the root turns completion off, so do its commands
    wrapper.command(name)(target)
    return typer.main.get_command(wrapper)


class SkybridgeGroup(TyperGroup):
    """Lazy sub-commands; turns a ``SkybridgeError`` raised below into a message and exit code.

    The apps' groups are looked up (manifests read) only when a command other than a built-in
    one is asked for or listed, so ``skybridge version`` reads no manifest at all.
    """

    builtin: dict[str, LazyCommand] = {}
    extra: dict[str, LazyCommand] | None = None

    @property
    def lazy(self) -> dict[str, LazyCommand]:
        if self.extra is None:
            type(self).extra = app_commands()
        return {**self.builtin, **(self.extra or {})}

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *self.lazy]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """The command, or for one not loaded yet a stand-in carrying its help text: help
        listings call this for every command and must not import them all."""
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in self.lazy:
            return found
        import click

        return click.Command(cmd_name, help=self.lazy[cmd_name].help)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Load the command about to run, then resolve as usual."""
        name = args[0] if args else None
        if name is not None and name not in self.commands and name in self.lazy:
            self._load(name)
        return super().resolve_command(ctx, args)

    def _load(self, name: str) -> Any:
        from skybridge.apps.kit.manifest import resolve

        entry = self.lazy[name]
        command = _click_command(name, resolve(entry.ref, where=f"command {name!r}"), entry.help)
        self.commands[name] = command
        return command

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        """Refuse an argument that is not UTF-8 before anything runs (past here it would crash
        whatever prints or stores it), unless its command keeps it as bytes: see
        :func:`keeps_bytes`."""
        refused = not_utf8_arguments(self, ctx, args)
        if refused:
            from skybridge.apps.kit.cli import EXIT_BAD_INPUT, report_error

            report_error(_not_utf8_error(args, refused))
            raise typer.Exit(EXIT_BAD_INPUT)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # What a command wrote before Ctrl-C stays written: its own help says whether
            # running it again finishes the work.
            _drain_logs()
            typer.echo("interrupted (Ctrl-C) before the command finished", err=True)
            raise typer.Exit(130) from None
        except SkybridgeError as exc:
            from skybridge.apps.kit.cli import exit_code_for, report_error

            report_error(exc)
            raise typer.Exit(exit_code_for(exc)) from None
        except (OSError, UnicodeDecodeError) as exc:
            # A file the user named: missing, a folder, not UTF-8 text. Anything else of
            # these kinds is not the user's to fix and keeps its traceback.
            from skybridge.apps.kit.cli import EXIT_BAD_INPUT, input_error, report_error

            error = input_error(exc)
            if error is None:
                _drain_logs()
                raise
            report_error(error)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except Exception:
            _drain_logs()  # the traceback comes after the log lines that led to it
            raise


def keeps_bytes(*params: str) -> Callable[[_Command], _Command]:
    """Mark a command whose ``params`` take the bytes typed, UTF-8 or not (``stream produce
    VALUE``): an argument for one of them is let through; any other that is not UTF-8 is
    refused with exit code 2 before the command runs."""

    def mark(command: _Command) -> _Command:
        command.__dict__[_KEEPS_BYTES] = frozenset(params)  # Typer's wrapper copies __dict__
        return command

    return mark


def not_utf8_arguments(root: Any, ctx: Any, args: list[str]) -> list[int]:
    """The positions (from 1) of ``args`` that are not UTF-8 (Python decodes such bytes to
    surrogates) and do not fill a parameter the command keeps as bytes."""
    positions = [i for i, arg in enumerate(args, 1) if not _is_utf8(arg)]
    if not positions:
        return []
    kept = _bytes_kept(root, ctx, args)
    return [i for i in positions if not any(_fills(args[i - 1], value) for value in kept)]


def _is_utf8(arg: str) -> bool:
    try:
        arg.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fills(arg: str, value: str) -> bool:
    """Whether ``arg`` is ``value`` or an option carrying it (``--key=V``, ``-kV``)."""
    return arg == value or (arg.startswith("-") and arg.endswith(value))


def _bytes_kept(root: Any, ctx: Any, args: list[str]) -> list[str]:
    """The values ``args`` give to parameters their command keeps as bytes: the command line is
    split the way Typer will split it, running no parameter callback."""
    command, context, rest = root, ctx, list(args)
    try:
        while isinstance(command, TyperGroup):
            rest = command.make_parser(context).parse_args(rest)[1]
            if not rest:
                return []
            name, command, rest = command.resolve_command(context, rest)
            if command is None:
                return []
            context = typer.Context(command, info_name=name, parent=context)
        opts = command.make_parser(context).parse_args(rest)[0]
    except typer.TyperException:
        return []  # a bad command line: Typer says what is wrong once the arguments are UTF-8
    names: frozenset[str] = getattr(command.callback, _KEEPS_BYTES, frozenset())
    given = [opts.get(name) for name in names]
    values = [v for value in given for v in (value if isinstance(value, list | tuple) else [value])]
    return [value for value in values if isinstance(value, str)]


def _not_utf8_error(args: list[str], positions: list[int]) -> SkybridgeError:
    first = positions[0]
    try:
        typed = shown(args[first - 1].encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:  # a surrogate no byte decodes to: not from a command line
        typed = ascii(args[first - 1])
    others = f" (and {len(positions) - 1} more)" if len(positions) > 1 else ""
    return ValidationError(
        f"argument {first} is not UTF-8 text: {typed}{others}",
        hint="type names and values as UTF-8 (a terminal with a UTF-8 locale, such as "
        "LANG=C.UTF-8, does); skybridge cannot print or store other bytes there",
    )


def _drain_logs() -> None:
    """Write out a service's queued log lines (if it queues them) before what follows; a
    command that never imported the log output has none (and imports nothing for it)."""
    log_output = sys.modules.get("skybridge.core.log_output")
    if log_output is not None:
        log_output.drain_service_output(1.0)


def _hide_flag_types() -> None:
    """Typer's help shows plain flags (``--json``, ``--help``) as taking a ``<bool>`` value,
    which reads as if they needed one; show no type for flags."""
    from typer.core import TyperOption

    shown = TyperOption.display_type_rich
    if getattr(shown, "_skybridge", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag and self.metavar is None else shown(self, ctx)

    display_type_rich._skybridge = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


def _log_level(value: str | None) -> str | None:
    if value is not None and value.upper() not in LOG_LEVELS:
        raise typer.BadParameter(f"use one of {', '.join(LOG_LEVELS)}")
    return value.upper() if value else None


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
            callback=_log_level,
        ),
    ] = None,
) -> None:
    """Global options (read by :func:`skybridge.apps.kit.cli.cli_session`)."""
    ctx.obj = {"config": config, "log_level": log_level}


def version() -> None:
    """Print the installed skybridge version."""
    from skybridge import __version__

    typer.echo(f"skybridge {__version__}")


def app_commands(apps: list[AppSpec] | None = None) -> dict[str, LazyCommand]:
    """One lazy group per app with a CLI (default: the installed apps; a broken plug-in is
    reported and left out)."""
    from skybridge.apps.kit.manifest import discover_apps

    if apps is None:
        try:
            apps = discover_apps()
        except (SkybridgeError, ImportError) as exc:
            typer.echo(f"warning: apps not loaded: {exc}", err=True)
            return {}
    return {
        spec.command: LazyCommand(spec.cli, spec.description)
        for spec in apps
        if spec.cli is not None
    }


def build_cli(apps: list[AppSpec] | None = None) -> typer.Typer:
    """The root command: built-in commands and the apps' groups (default: the installed
    apps, looked up when first needed)."""
    cli = typer.Typer(
        name="skybridge",
        cls=SkybridgeGroup,
        help="Cloud-data patterns across AWS and Oracle Cloud, on a laptop or in production.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,  # locals may hold secrets
        rich_markup_mode="rich",
        add_completion=False,
    )
    _hide_flag_types()
    cli.callback()(root)
    cli.command("version")(version)
    extra = None if apps is None else app_commands(apps)
    cli.info.cls = type("SkybridgeRoot", (SkybridgeGroup,), {"builtin": BUILTIN, "extra": extra})
    return cli


def main() -> None:
    """Console-script entry point. ``skybridge version`` is answered before the command tree
    is built (it is what scripts and health checks call most)."""
    if sys.argv[1:] == ["version"]:
        version()
        return
    build_cli()()


def __getattr__(name: str) -> Any:
    if name == "app":  # ``from skybridge.cli import app``: the root with the installed apps
        return build_cli()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()

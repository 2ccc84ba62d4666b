"""What every CLI group shares: the session (global options, settings), exit codes, errors,
``--json`` output, result tables, styled text and progress bars.

Exit codes: 0 ok, 1 a check failed (or an unexpected error), 2 bad input or configuration
(a name that does not exist included).

The CLI's consoles print strings as they are: a name, path or message holding ``[/x]`` or
``[red]`` is text, never console markup (which would restyle it or fail on it). Styling is
explicit, through :func:`styled`.
"""

from __future__ import annotations

import io
import json
import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TextIO, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, ProgressColumn, TextColumn
from rich.table import Table
from rich.text import Text

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.core.config import CONFIG_ENV, Settings
from skybridge.core.errors import (
    ConfigError,
    MissingDependency,
    NotFound,
    SkybridgeError,
    ValidationError,
)
from skybridge.core.log_output import drain_service_output, service_output
from skybridge.core.observability import configure_logging
from skybridge.core.words import counted as counted

#: Exit codes: 0 ok, 1 a check failed (or an unexpected error), 2 bad input or configuration.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
#: Bad input: a wrong setting or value, a missing extra, a name that does not exist.
_BAD_INPUT = (ConfigError, ValidationError, MissingDependency, NotFound)


class _Stderr(io.TextIOBase):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def exit_code_for(exc: SkybridgeError) -> int:
    return EXIT_BAD_INPUT if isinstance(exc, _BAD_INPUT) else EXIT_FAILED


#: File errors that come from a path the user gave: the message names it, the hint says what
#: to give instead.
_PATH_HINTS: dict[type[OSError], str] = {
    FileNotFoundError: "check the path; a file to write needs an existing folder",
    IsADirectoryError: "give a file's path, not a folder's",
    NotADirectoryError: "a part of the path is a file, not a folder",
    FileExistsError: "give a path where nothing of that name exists yet",
    PermissionError: "give a path this user may read or write",
}


def input_error(exc: BaseException) -> SkybridgeError | None:
    """A command's failure on a file it was pointed at (missing, a folder, not UTF-8 text) as
    a :class:`ValidationError` saying what to fix; ``None`` for any other exception."""
    if isinstance(exc, UnicodeDecodeError):
        name = _text_file_of(exc)
        return ValidationError(
            f"{name or 'the input'} is not UTF-8 text (it holds the byte "
            f"0x{exc.object[exc.start]:02x})",
            hint="give a UTF-8 text file (CSV, JSON, TOML and so on), not a binary file",
        )
    for kind, hint in _PATH_HINTS.items():
        if isinstance(exc, kind) and exc.filename is not None:
            reason = exc.strerror or type(exc).__name__
            return ValidationError(f"{exc.filename}: {reason.lower()}", hint=hint)
    return None


def _text_file_of(exc: BaseException) -> str | None:
    """The name of the text file being read where ``exc`` was raised (the innermost frame
    holding an open one), if any: a decoding error does not say which file it met."""
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        for value in frame.f_locals.values():
            if isinstance(value, io.TextIOWrapper) and isinstance(value.name, str):
                return value.name
    return None


def console(*, stderr: bool = False) -> Console:
    """A console that prints strings as they are (no markup, no highlighting, no wrapping)."""
    return Console(stderr=stderr, markup=False, highlight=False, soft_wrap=True)


def styled(markup: str, *values: object) -> Text:
    """Our console ``markup`` as styled text, each ``{}`` (format spec allowed) filled with the
    next of ``values`` as plain text: ``styled("[green]applied[/] view [bold]{}[/]", name)``
    prints a name holding ``[/x]`` as itself."""
    return Text.from_markup(markup.format(*(_Plain(v) for v in values)))


class _Plain:
    """A value whose formatted text is escaped for console markup (format specs still apply)."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return escape(format(self.value, spec))


def progress_bar(*columns: ProgressColumn | str, **options: Any) -> Progress:
    """A progress bar on stderr whose first column is the task's description as plain text,
    then ``columns``; ``options`` go to :class:`~rich.progress.Progress`."""
    options.setdefault("console", console(stderr=True))
    return Progress(TextColumn("{task.description}", markup=False), *columns, **options)


def report_error(exc: SkybridgeError) -> None:
    """A red one-line explanation (naming the setting) and the hint, on stderr; no traceback."""
    drain_service_output(1.0)  # after the log lines that led to it, not before them
    err = console(stderr=True)
    setting = getattr(exc, "setting", None)
    where = f"{setting}: " if setting and setting not in exc.message else ""
    err.print(styled("[bold red]error:[/] [red]{}{}[/]", where, exc.message))
    if exc.hint:
        err.print(styled("[yellow]hint:[/] {}", exc.hint))


@contextmanager
def _config_file(path: Path | None) -> Iterator[None]:
    if path is None:
        yield
        return
    previous = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = str(path)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = previous


@dataclass
class CliSession:
    """Global options of this invocation; settings are loaded on first use."""

    config: Path | None = None
    log_level: str | None = None
    out: Console = field(default_factory=console)
    _settings: Settings | None = None

    def settings(self, *, service: bool = False, queued_log: bool | None = None) -> Settings:
        """Load settings once and configure logging (WARNING for commands unless asked).

        A service (``service``) logs at ``log.level`` and, unless ``queued_log`` is false,
        through a writer thread (:mod:`skybridge.core.log_output`): a run that ends by itself,
        like a batch, writes its lines directly."""
        if self._settings is None:
            if self.config is not None and not self.config.is_file():
                what = "is a folder" if self.config.is_dir() else "does not exist"
                raise ConfigError(
                    f"config file {self.config} {what}",
                    setting="--config",
                    hint="give the path of an existing TOML file",
                )
            with _config_file(self.config):
                try:
                    self._settings = load_settings()
                except ConfigError as exc:
                    if self.config is None or exc.setting != CONFIG_ENV:
                        raise
                    exc.setting = "--config"  # the file came from the option, not the variable
                    raise
            log = self._settings.log
            stream = cast(TextIO, _Stderr())
            configure_logging(
                (self.log_level or (log.level if service else "WARNING")).upper(),
                json_output=log.json_output,
                # a service's lines go out through a thread of their own: a slow reader of
                # stderr must not stall the event loop, which writes the access log
                stream=(
                    cast(TextIO, service_output(stream, log.queue_lines))
                    if (service if queued_log is None else queued_log)
                    else stream
                ),
            )
        return self._settings


def cli_session(ctx: typer.Context) -> CliSession:
    """The :class:`CliSession` of this invocation, made on first use from the global options
    the root callback stored on the click context (a mapping, to keep the root cheap)."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliSession):
        options = root.obj if isinstance(root.obj, dict) else {}
        root.obj = CliSession(config=options.get("config"), log_level=options.get("log_level"))
    return root.obj


#: The ``--json`` option of commands that list or report.
Json = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def emit_json(data: Any) -> None:
    """``data`` as indented JSON on stdout (times and paths as strings)."""
    typer.echo(json.dumps(data, indent=2, default=str))


def result_table(title: str, *columns: str) -> Table:
    """A table for results; the first column names the row and is never wrapped."""
    table = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=i == 0)
    return table


def page_title(noun: str, count: int, offset: int, total: int, order: str) -> str:
    """The title of one page of a list: ``Batches: showing 201-400 of 502, newest first``."""
    shown = f"{offset + 1}-{offset + count}" if offset else str(count)
    return f"{noun}: showing {shown} of {total}, {order}"


def more_after(count: int, offset: int, total: int) -> str | None:
    """What is left after this page, and how to see it (``None`` at the end)."""
    end = offset + count
    return f"{total - end} more: --offset {end}" if end < total else None


def app_context(ctx: typer.Context, app: str) -> AppContext[Any]:
    """The context of the installed app ``app`` under this invocation's settings."""
    settings = cli_session(ctx).settings()
    return AppContext.create(find_app(discover_apps(), app), settings)

"""What one ``skybridge`` invocation shares: global options, settings, consoles, exit codes."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, cast

import typer
from rich.console import Console

from skybridge.core.config import CONFIG_ENV, Settings, load_settings
from skybridge.core.errors import ConfigError, MissingDependency, SkybridgeError, ValidationError
from skybridge.core.observability import configure_logging

#: Exit codes: 0 ok, 1 a check failed (or an unexpected error), 2 bad input or configuration.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_BAD_INPUT = (ConfigError, ValidationError, MissingDependency)


class _Stderr(io.TextIOBase):
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def exit_code_for(exc: SkybridgeError) -> int:
    return EXIT_BAD_INPUT if isinstance(exc, _BAD_INPUT) else EXIT_FAILED


def report_error(exc: SkybridgeError) -> None:
    """A red one-line explanation (naming the setting) and the hint, on stderr; no traceback."""
    console = Console(stderr=True, highlight=False)
    setting = getattr(exc, "setting", None)
    where = f"{setting}: " if setting and setting not in exc.message else ""
    console.print(f"[bold red]error:[/] [red]{where}{exc.message}[/]", soft_wrap=True)
    if exc.hint:
        console.print(f"[yellow]hint:[/] {exc.hint}", soft_wrap=True)


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
    out: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))
    _settings: Settings | None = None

    def settings(self, *, service: bool = False) -> Settings:
        """Load settings once and configure logging (WARNING for commands unless asked)."""
        if self._settings is None:
            with _config_file(self.config):
                self._settings = load_settings()
            default = self._settings.log.level if service else "WARNING"
            configure_logging(
                (self.log_level or default).upper(),
                json_output=self._settings.log.json_output,
                stream=cast(TextIO, _Stderr()),
            )
        return self._settings


def cli_session(ctx: typer.Context) -> CliSession:
    """The :class:`CliSession` the root callback stored on the click context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliSession):
        root.obj = CliSession()
    return root.obj

"""``console://``: notifications on stderr, rich text or one JSON line each (``?format=json``)."""

from __future__ import annotations

import io
import json
import sys
from typing import Any, ClassVar, Self, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from skybridge.backends.notify.base import Message, Notifier
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

_STYLES = {"info": "cyan", "warning": "yellow", "critical": "bold red"}


class ConsoleNotifier(Notifier):
    """Writes notifications to a text stream (stderr unless ``stream=`` is given).

    Args:
        format: ``text`` (rich, plain when the stream is not a terminal) or ``json``.
        stream: Where to write; resolved at each send so redirected stderr is honoured.
    """

    scheme = "console"
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, format: str = "text", stream: TextIO | None = None, **base: Any):
        super().__init__(**base)
        if format not in {"text", "json"}:
            raise ConfigError(
                f"console notifier format '{format}' is unknown",
                setting="backends.notify",
                hint="use console://?format=text or console://?format=json",
            )
        self.format = format
        self._stream = stream

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        base = cls.policy_options(url, options)
        return cls(format=url.params.get("format", "text"), **base, **options)

    def describe(self) -> str:
        return f"console://?format={self.format}"

    def ping(self) -> None:
        """Nothing to reach."""

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stderr

    def _deliver(self, message: Message) -> str | None:
        if self.format == "json":
            self.stream.write(json.dumps(message.as_dict(), ensure_ascii=False) + "\n")
        else:
            self._print_rich(message)
        self.stream.flush()
        return None

    def _print_rich(self, message: Message) -> None:
        # Render into a buffer: rich's own broken-pipe handling exits the process.
        buffer = io.StringIO()
        tty = _isatty(self.stream)
        console = Console(
            file=buffer,
            force_terminal=tty,
            color_system="standard" if tty else None,
            highlight=False,
            soft_wrap=True,
        )
        style = _STYLES[message.severity.value]
        console.print(Text(message.subject(), style=style))
        if message.body:
            console.print(Text(message.body))
        if message.fields:
            table = Table(show_header=False, box=None, padding=(0, 1))
            for key, value in message.fields.items():
                table.add_row(Text(key, style="bold"), Text(value))
            console.print(table)
        if message.link:
            console.print(Text(message.link, style="underline"))
        console.print(Text(message.context_line(), style="dim"))
        self.stream.write(buffer.getvalue())


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False

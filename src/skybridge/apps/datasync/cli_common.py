"""What the datasync CLI modules share: the opened :class:`DataSync` and progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from skybridge.apps.datasync.service import DataSync
from skybridge.apps.kit.cli import app_context
from skybridge.core.errors import NotFound, ValidationError


@contextmanager
def opened(ctx: typer.Context) -> Iterator[DataSync]:
    """The app's :class:`DataSync`; an unknown table, batch or letter is bad input (exit 2)."""
    try:
        with DataSync.open(app_context(ctx, "datasync")) as sync:
            yield sync
    except NotFound as exc:
        raise ValidationError(exc.message, hint=exc.hint) from None


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )

"""What the datasync CLI modules share: the opened :class:`DataSync` and progress bars."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from skybridge.apps.datasync.service import DataSync
from skybridge.apps.kit.cli import app_context
from skybridge.apps.kit.cli import progress_bar as _progress_bar
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
    """A bar on stderr: description (plain text), bar, done/total, time elapsed."""
    return _progress_bar(BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())

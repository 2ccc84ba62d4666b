"""Checks of Python API arguments at the boundary, so a wrong type is a clear
:class:`ValidationError` naming the argument instead of an ``AttributeError`` deep inside."""

from __future__ import annotations

import os
from pathlib import Path

from skybridge.core.errors import ValidationError

#: A path as the Python API takes it: text or a ``Path``-like.
PathArg = str | os.PathLike[str]


def path_text(value: object, argument: str, *, what: str = "a path") -> str:
    """``value`` (text or a ``Path``-like) as text; anything else is refused, naming
    ``argument`` (``what`` says what it should be: ``"a path or URL"``)."""
    found = os.fspath(value) if isinstance(value, os.PathLike) else value
    if not isinstance(found, str):
        raise ValidationError(
            f"{argument} must be {what} (str or Path), got {type(value).__name__}"
        )
    return found


def as_path(value: object, argument: str) -> Path:
    """``value`` (text or a ``Path``-like) as a ``Path``; anything else is refused."""
    return Path(path_text(value, argument))

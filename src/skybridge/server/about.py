"""The installed skybridge version (no web framework needed, so the CLI can use it)."""

from __future__ import annotations

from skybridge import __version__


def skybridge_version() -> str:
    """The skybridge version."""
    return __version__

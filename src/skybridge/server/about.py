"""The installed skybridge version (no web framework needed, so the CLI can use it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def skybridge_version() -> str:
    """The installed skybridge version."""
    try:
        return version("skybridge")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"

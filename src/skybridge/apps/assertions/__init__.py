"""SQL assertions (``CREATE ASSERTION``) for PostgreSQL and SQLite; see :mod:`.api`.

``APP`` (the plug-in for the service, dashboard and CLI) is imported on first use so that the
engine modules can be imported without the surfaces.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "APP":
        from skybridge.apps.assertions.app import APP

        return APP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

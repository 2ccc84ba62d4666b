"""What an app's dashboard page returns: an HTML fragment or a template of its own package."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AppPage:
    """A dashboard page rendered from a template shipped in the app's package.

    ``template`` is a file name under ``<package>/templates/``; the rendered HTML is placed
    inside the dashboard layout. Templates are auto-escaped and receive the session's ``csrf``
    token for forms posted to ``/ui/<name>``.
    """

    package: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)

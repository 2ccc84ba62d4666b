"""The skybridge HTTP service: FastAPI app factory, API tokens, dashboard.

``create_app`` is imported lazily so that :mod:`skybridge.server.health` stays usable by the CLI
without the ``server`` extra (FastAPI, Jinja2) installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from skybridge.apps.kit.manifest import AppSpec
    from skybridge.core.config import Settings

__all__ = ["create_app"]


def create_app(
    settings: Settings | None = None,
    *,
    apps: list[AppSpec] | None = None,
    demo: bool = False,
    background: bool = False,
) -> FastAPI:
    """Build the service for ``settings`` (loaded from the environment when omitted).

    ``apps`` replaces plug-in discovery (for tests and embedding); ``background`` also runs the
    apps' pipelines, services and jobs while the service runs (``demo``: and demo services).
    """
    from skybridge.server.app import create_app as _create_app

    return _create_app(settings, apps=apps, demo=demo, background=background)

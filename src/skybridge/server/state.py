"""What the service holds for its lifetime, reachable from every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from sqlalchemy import Engine

from skybridge.apps.kit.background import Background
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec
from skybridge.auth.scopes import ScopeCatalog
from skybridge.auth.tokens import TokenStore
from skybridge.core.config import Settings
from skybridge.server.history import MetricsHistory
from skybridge.server.session import Signer


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    tokens: TokenStore
    signer: Signer
    apps: list[AppSpec]
    contexts: dict[str, AppContext[Any]]
    version: str
    scopes: ScopeCatalog
    background: Background | None = None
    history: MetricsHistory = field(default_factory=MetricsHistory)

    def context(self, app: AppSpec) -> AppContext[Any]:
        """The context the app's routes and page run with."""
        return self.contexts[app.name]

    def close(self) -> None:
        if self.background is not None:
            self.background.stop()
        self.engine.dispose()


def get_state(request: Request) -> ServiceState:
    """The service state of ``request``'s app."""
    state: ServiceState = request.app.state.skybridge
    return state


#: The scope that shows where files live on the host (``core.locations``).
LOCATIONS_SCOPE = "service:locations"


def locations_hidden(request: Request) -> Path | None:
    """The data folder to hide file locations by for ``request``'s caller, or ``None`` when
    it holds :data:`LOCATIONS_SCOPE` (a caller not known yet holds nothing)."""
    allows = getattr(request.state, "allows", None)
    if allows is not None and allows(LOCATIONS_SCOPE):
        return None
    return get_state(request).settings.data_dir


async def service_state(request: Request) -> ServiceState:
    """FastAPI dependency: the service state (a coroutine, so no worker thread is spent on it)."""
    return get_state(request)

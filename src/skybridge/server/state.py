"""What the service holds for its lifetime, reachable from every request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine

from skybridge.apps import AppSpec, ServiceContext
from skybridge.auth.tokens import TokenStore
from skybridge.core.config import Settings
from skybridge.server.session import Signer


@dataclass
class ServiceState:
    settings: Settings
    engine: Engine
    tokens: TokenStore
    signer: Signer
    apps: list[AppSpec]
    context: ServiceContext
    version: str

    def close(self) -> None:
        self.engine.dispose()


def get_state(request: Request) -> ServiceState:
    """FastAPI dependency: the service state."""
    state: ServiceState = request.app.state.skybridge
    return state

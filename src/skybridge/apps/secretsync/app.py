"""The secretsync app: ``APP`` (routes, dashboard page, ``skybridge secrets``, demo) and the
plain-data views the surfaces share. Every view is built from the engine's ``to_dict()``
results, which hold no secret values; audit hash prefixes are left out as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from skybridge.apps import AppSpec, ServiceContext
from skybridge.apps.secretsync.letters import LetterView, letter_counts, list_letters
from skybridge.apps.secretsync.model import SecretMapping
from skybridge.apps.secretsync.service import SecretSyncService
from skybridge.apps.secretsync.state import AuditRecord

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI

    from skybridge.core.config import Settings


def mapping_view(mapping: SecretMapping) -> dict[str, Any]:
    """A mapping as shown to people: where from, where to, and how."""
    return {
        "name": mapping.name,
        "source": str(mapping.source),
        "target": str(mapping.target),
        "fields": mapping.fields,
        "rename": dict(mapping.rename),
        "field_format": mapping.field_format,
        "binary": mapping.binary.value,
        "deletion": mapping.deletion.value,
        "drift": mapping.drift.value,
        "adopt": mapping.adopt,
        "description": mapping.description,
    }


def audit_view(record: AuditRecord) -> dict[str, Any]:
    """An audit record without the payload hash prefix."""
    return {
        "at": record.at,
        "actor": record.actor,
        "mapping": record.mapping,
        "action": record.action,
        "target": record.target,
        "source_version": record.source_version,
        "target_version": record.target_version,
        "reason": record.reason,
    }


def status_views(
    service: SecretSyncService, letters: list[LetterView] | None = None
) -> list[dict[str, Any]]:
    """``status()`` rows; ``dead_letters`` counts the kv and the stream dead letters."""
    counts = letter_counts(list_letters(service) if letters is None else letters)
    return [row.to_dict() | {"dead_letters": counts[row.name]} for row in service.engine.status()]


def seed_demo(settings: Settings) -> None:
    """``skybridge up --demo``: see :mod:`skybridge.apps.secretsync.demo`."""
    from skybridge.apps.secretsync.demo import seed_demo as seed

    seed(settings)


def demo_lifespan(settings: Settings) -> Any:
    """The routes' lifespan: runs the live demo while the service runs (demo folders only)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        from skybridge.apps.secretsync.demo import LiveDemo, is_demo

        live = LiveDemo(settings) if is_demo(settings) else None
        if live is not None:
            live.start()
        try:
            yield
        finally:
            if live is not None:
                live.stop()

    return lifespan


def _router(context: ServiceContext) -> APIRouter:
    from skybridge.apps.secretsync.router import build_router

    return build_router(context)


def _build_app() -> AppSpec:
    from skybridge.apps.secretsync.cli import secrets_app
    from skybridge.apps.secretsync.page import handle_action, render_page

    return AppSpec(
        name="secretsync",
        title="Secret sync",
        description="Sync secrets between stores: AWS Secrets Manager → OCI Vault, or any pair.",
        router=_router,
        page=render_page,
        page_action=handle_action,
        cli=secrets_app,
        cli_name="secrets",
        demo=seed_demo,
    )


APP = _build_app()

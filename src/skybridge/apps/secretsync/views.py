"""The plain-data views the surfaces (CLI, routes, dashboard page) share. Every view is built
from the engine's ``to_dict()`` results, which hold no secret values; audit hash prefixes are
left out as well.
"""

from __future__ import annotations

from typing import Any

from skybridge.apps.secretsync.model import SecretMapping
from skybridge.apps.secretsync.service import SecretSyncService
from skybridge.apps.secretsync.state import AuditRecord


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


def status_views(service: SecretSyncService) -> list[dict[str, Any]]:
    """``status()`` rows: versions, lag, drift, last error and pending dead letters."""
    return [row.to_dict() for row in service.engine.status()]

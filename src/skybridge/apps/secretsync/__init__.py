"""secretsync: event-driven secret sync (AWS Secrets Manager -> OCI Vault, or any ``secrets``
backend to any other) with reconciliation, dead letters, ownership and an audit log.

The Python API is the product; the CLI, HTTP routes, dashboard page and cloud handlers wrap it::

    from skybridge.apps.secretsync import SecretSync, load_table
    from skybridge.backends import kv

    sync = SecretSync(load_table("secretsync.toml"), state=kv.connect("sqlite:///kv.db"))
    sync.sync_event(event)              # -> list[SyncOutcome]
    sync.sync_mapping("db")             # -> SyncOutcome
    sync.reconcile(dry_run=True).plan   # -> Plan (actions with reasons)
    sync.status()                       # -> list[MappingStatus]
    sync.list_dead_letters(); sync.replay()

The app's manifest is :mod:`.manifest`; importing this package imports nothing else until a
name of the Python API is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybridge.apps.secretsync.deadletters import DeadLetter, DeadLetters, KvDeadLetters
    from skybridge.apps.secretsync.engine import MappingStatus, ReplayResult, SecretSync
    from skybridge.apps.secretsync.events import SecretEvent, manual_event, parse_event
    from skybridge.apps.secretsync.loading import load_table, parse_table, table_from_dict
    from skybridge.apps.secretsync.model import (
        BackendSpec,
        Binary,
        Deletion,
        DriftPolicy,
        MappingTable,
        SecretMapping,
        SecretPointer,
    )
    from skybridge.apps.secretsync.ownership import OwnershipConflict
    from skybridge.apps.secretsync.reconcile import Plan, PlannedAction, ReconcileReport
    from skybridge.apps.secretsync.state import AuditRecord, MappingState
    from skybridge.apps.secretsync.transform import PoisonPayload
    from skybridge.apps.secretsync.writer import SyncOutcome

__all__ = [
    "AuditRecord",
    "BackendSpec",
    "Binary",
    "DeadLetter",
    "DeadLetters",
    "Deletion",
    "DriftPolicy",
    "KvDeadLetters",
    "MappingState",
    "MappingStatus",
    "MappingTable",
    "OwnershipConflict",
    "Plan",
    "PlannedAction",
    "PoisonPayload",
    "ReconcileReport",
    "ReplayResult",
    "SecretEvent",
    "SecretMapping",
    "SecretPointer",
    "SecretSync",
    "SyncOutcome",
    "load_table",
    "manual_event",
    "parse_event",
    "parse_table",
    "table_from_dict",
]


#: Where each name of the Python API lives; imported on first use, so that reading the app's
#: manifest (``skybridge --help``) does not import the engine.
_HOMES = {
    "DeadLetter": "deadletters",
    "DeadLetters": "deadletters",
    "KvDeadLetters": "deadletters",
    "MappingStatus": "engine",
    "ReplayResult": "engine",
    "SecretSync": "engine",
    "SecretEvent": "events",
    "manual_event": "events",
    "parse_event": "events",
    "load_table": "loading",
    "parse_table": "loading",
    "table_from_dict": "loading",
    "BackendSpec": "model",
    "Binary": "model",
    "Deletion": "model",
    "DriftPolicy": "model",
    "MappingTable": "model",
    "SecretMapping": "model",
    "SecretPointer": "model",
    "OwnershipConflict": "ownership",
    "Plan": "reconcile",
    "PlannedAction": "reconcile",
    "ReconcileReport": "reconcile",
    "AuditRecord": "state",
    "MappingState": "state",
    "PoisonPayload": "transform",
    "SyncOutcome": "writer",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

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

``APP`` (the plug-in for the service, dashboard and ``skybridge secrets``) is imported on
first use so that the engine can be imported without the surfaces (Lambda, OCI Functions).
"""

from __future__ import annotations

from typing import Any

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


def __getattr__(name: str) -> Any:
    if name == "APP":
        from skybridge.apps.secretsync.app import APP

        return APP
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

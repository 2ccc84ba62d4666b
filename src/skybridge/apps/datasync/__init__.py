"""datasync: idempotent AWS <-> OCI data sync into SQL databases (PostgreSQL, Oracle, SQLite).

* **Stream**: changes published on the AWS side (Kafka, OCI Streaming, Kinesis, the embedded
  log) are applied by a consumer pipeline as version-guarded upserts, offsets committed only
  after the database commit, bad events dead-lettered;
* **Batch**: extract -> S3 -> OCI Object Storage -> staging -> MERGE, resumable step by step,
  idempotent by batch id, also exported as an AWS Step Functions state machine.

The Python API is :class:`~skybridge.apps.datasync.service.DataSync`; importing this package
imports nothing else until a name is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skybridge.apps.datasync.changes import Change, parse_change
    from skybridge.apps.datasync.config import BatchSpec, DataSyncConfig, TableSpec
    from skybridge.apps.datasync.service import DataSync
    from skybridge.apps.datasync.target import Applied, SqlTarget

__all__ = [
    "Applied",
    "BatchSpec",
    "Change",
    "DataSync",
    "DataSyncConfig",
    "SqlTarget",
    "TableSpec",
    "parse_change",
]

_HOMES = {
    "Change": "changes",
    "parse_change": "changes",
    "BatchSpec": "config",
    "DataSyncConfig": "config",
    "TableSpec": "config",
    "DataSync": "service",
    "Applied": "target",
    "SqlTarget": "target",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

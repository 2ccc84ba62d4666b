"""The ``[secretsync]`` section of skybridge.toml (or ``SKYBRIDGE__SECRETSYNC__<KEY>``).

::

    [secretsync]
    mappings = "secretsync.toml"   # or mappings_inline = "...the table as TOML or JSON..."
    reconcile_every = 3600         # seconds between scheduled reconciles

Where things live: state, locks and audit in ``state`` (a kv URL; default ``backends.kv``),
events on ``backends.streams`` topic ``events_topic``, dead letters on ``<events_topic>.dlq``
(or, with ``dead_letters = "kv"``, in the state store: for function deployments that have no
event stream of their own, such as Lambda behind SQS).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field

from skybridge.core.config import SettingsModel

#: Tries per event before it is dead-lettered.
DEFAULT_ATTEMPTS = 4
#: Seconds of change feed re-read before the last verified time (OCI Audit lists events late).
DEFAULT_OVERLAP = 1800.0
#: Seconds between reconciles that read every target.
DEFAULT_FULL_INTERVAL = 86400.0
EVENTS_TOPIC = "secretsync.events"


class SecretSyncConfig(SettingsModel):
    """Settings of secretsync: the CLI, the service, workers and the cloud functions."""

    model_config = ConfigDict(extra="forbid")

    mappings: Path | None = Field(
        default=None,
        description="The mapping table (.toml/.yaml/.json); default secretsync.toml next to "
        "the settings file, else <data_dir>/secretsync.toml",
    )
    mappings_inline: str | None = Field(
        default=None, description="The mapping table itself (TOML or JSON text)"
    )
    state: str | None = Field(
        default=None, description="kv URL for state, locks and audit (default backends.kv)"
    )
    attempts: int = Field(default=DEFAULT_ATTEMPTS, ge=1, le=20)
    actor: str | None = Field(default=None, description="The name written into audit records")
    change_feed_overlap: float = Field(default=DEFAULT_OVERLAP, ge=0)
    full_verify_interval: float = Field(default=DEFAULT_FULL_INTERVAL, gt=0)
    use_change_feed: bool = True
    events_topic: str = Field(default=EVENTS_TOPIC, min_length=1, max_length=200)
    dead_letters: Literal["stream", "kv"] = Field(
        default="stream",
        description="stream: <events_topic>.dlq on backends.streams; kv: the state store",
    )
    reconcile_every: float = Field(default=3600.0, ge=1.0)
    #: ``up --demo`` only: seconds between rotations of a demo source secret.
    demo_rotate_every: float = Field(default=30.0, gt=0)

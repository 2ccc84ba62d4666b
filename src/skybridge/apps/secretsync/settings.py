"""Building a :class:`SecretSync` from the environment (Lambda, OCI Functions, CLI defaults).

Variables (``SKYBRIDGE__SECRETSYNC__...``):

* ``MAPPINGS``: path of the mapping table (``.toml``, ``.yaml``, ``.json``), or
  ``MAPPINGS_INLINE``: the table itself (JSON or TOML text), handy in function config;
* ``STATE``: ``kv`` URL for state, locks, audit and dead letters (default: ``backends.kv``,
  i.e. ``SKYBRIDGE__BACKENDS__KV``; on Lambda use ``dynamodb://table``);
* ``ATTEMPTS``: tries per event before it is dead-lettered (default 4);
* ``ACTOR``: the name written into audit records;
* ``CHANGE_FEED_OVERLAP``: seconds of change feed re-read before the last verified time
  (default 1800; OCI Audit lists events late);
* ``FULL_VERIFY_INTERVAL``: seconds between reconciles that read every target (default 86400);
* ``USE_CHANGE_FEED``: ``false`` reads every target on every reconcile.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from skybridge.apps.secretsync.engine import DEFAULT_RETRY, SecretSync
from skybridge.apps.secretsync.loading import load_table, parse_table_text
from skybridge.apps.secretsync.model import MappingTable
from skybridge.apps.secretsync.verify import VerifyPolicy
from skybridge.backends import kv
from skybridge.core.config import load_settings
from skybridge.core.errors import ConfigError, SkybridgeError
from skybridge.core.retry import RetryPolicy

ENV_PREFIX = "SKYBRIDGE__SECRETSYNC__"


class SecretSyncSettings(BaseSettings):
    """Settings of the secretsync entry points."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    mappings: Path | None = None
    mappings_inline: str | None = None
    state: str | None = None
    attempts: int = Field(default=DEFAULT_RETRY.attempts, ge=1, le=20)
    actor: str | None = None
    change_feed_overlap: float = Field(default=VerifyPolicy.overlap, ge=0)
    full_verify_interval: float = Field(default=VerifyPolicy.full_interval, gt=0)
    use_change_feed: bool = True

    def verify_policy(self) -> VerifyPolicy:
        return VerifyPolicy(
            overlap=self.change_feed_overlap,
            full_interval=self.full_verify_interval,
            use_change_feed=self.use_change_feed,
        )

    def table(self) -> MappingTable:
        try:
            if self.mappings_inline:
                return parse_table_text(self.mappings_inline)
            if self.mappings is not None:
                return load_table(self.mappings)
        except SkybridgeError as exc:
            raise ConfigError(exc.message, setting="secretsync.mappings", hint=exc.hint) from None
        raise ConfigError(
            "no mapping table configured",
            setting="secretsync.mappings",
            hint=f"set {ENV_PREFIX}MAPPINGS to a .toml/.yaml file or {ENV_PREFIX}MAPPINGS_INLINE",
        )

    def state_url(self) -> str:
        return self.state or load_settings().backends.kv


def engine_from_env() -> SecretSync:
    """A :class:`SecretSync` configured from ``SKYBRIDGE__...`` variables."""
    settings = SecretSyncSettings()
    table = settings.table()
    state = kv.connect(settings.state_url(), setting="secretsync.state")
    retry = RetryPolicy(
        attempts=settings.attempts,
        base_delay=DEFAULT_RETRY.base_delay,
        max_delay=DEFAULT_RETRY.max_delay,
        deadline=DEFAULT_RETRY.deadline,
    )
    return SecretSync(
        table, state=state, retry=retry, actor=settings.actor, verify=settings.verify_policy()
    )

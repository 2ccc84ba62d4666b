"""Building the secretsync engine the CLI, the HTTP routes, the dashboard and workers use.

Configuration (environment, ``SKYBRIDGE__SECRETSYNC__...``; see also :mod:`.settings`):

* the mapping table: ``MAPPINGS`` (a path) or ``MAPPINGS_INLINE`` (the text); otherwise
  ``secretsync.toml`` next to the settings file (``./skybridge.toml`` or ``$SKYBRIDGE_CONFIG``),
  else ``<data_dir>/secretsync.toml``;
* state, locks, audit and dead letters: ``STATE`` (a kv URL), default ``backends.kv``;
* the event stream: ``STREAMS`` (a streams URL), default ``backends.streams``, else
  ``sqlite:///<data_dir>/streams.db``; events arrive on ``EVENTS_TOPIC``
  (``secretsync.events``) and fail to ``<topic>.dlq``;
* ``RECONCILE_EVERY``: seconds between scheduled reconciles (default 3600);
* ``DEMO_ROTATE_EVERY``: ``up --demo`` rotates a demo secret this often (default 30 s).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic import ValidationError as PydanticValidationError

from skybridge.apps.secretsync.deadletters import DeadLetters
from skybridge.apps.secretsync.engine import DEFAULT_RETRY, SecretSync
from skybridge.apps.secretsync.loading import load_table
from skybridge.apps.secretsync.metrics import MeteredSecretSync
from skybridge.apps.secretsync.model import MappingTable
from skybridge.apps.secretsync.settings import ENV_PREFIX, SecretSyncSettings
from skybridge.backends import kv
from skybridge.backends.kv import KeyValueStore
from skybridge.core.config import CONFIG_ENV, DEFAULT_CONFIG_FILE, Settings
from skybridge.core.errors import ConfigError, SkybridgeError
from skybridge.core.retry import RetryPolicy

TABLE_FILE = "secretsync.toml"
EVENTS_TOPIC = "secretsync.events"


class ServiceConfig(SecretSyncSettings):
    """The entry points' settings plus what the service and workers need."""

    streams: str | None = None
    events_topic: str = Field(default=EVENTS_TOPIC, min_length=1)
    reconcile_every: float = Field(default=3600.0, ge=1.0)
    #: ``up --demo`` only: seconds between rotations of a demo source secret.
    demo_rotate_every: float = Field(default=30.0, gt=0)


def load_config() -> ServiceConfig:
    """:class:`ServiceConfig` from the environment; a bad value is a :class:`ConfigError`."""
    try:
        return ServiceConfig()
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            str(first["msg"]),
            setting=f"secretsync.{name}",
            hint=f"fix {ENV_PREFIX}{name.upper()}",
        ) from None


def table_candidates(settings: Settings) -> list[Path]:
    """Where the table is looked for when no variable names it, in order."""
    config_file = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    return [config_file.parent / TABLE_FILE, Path(settings.data_dir) / TABLE_FILE]


def find_table(settings: Settings, config: ServiceConfig) -> tuple[MappingTable, str]:
    """The mapping table and where it came from (a path, or ``MAPPINGS_INLINE``).

    Raises:
        ConfigError: no table anywhere, or the table is invalid (the message says what to fix).
    """
    if config.mappings_inline or config.mappings is not None:
        where = "MAPPINGS_INLINE" if config.mappings_inline else str(config.mappings)
        return config.table(), where
    for path in table_candidates(settings):
        if path.is_file():
            try:
                return load_table(path), str(path)
            except SkybridgeError as exc:
                raise ConfigError(exc.message, setting=str(path), hint=exc.hint) from None
    tried = " or ".join(str(p) for p in table_candidates(settings))
    raise ConfigError(
        "no secretsync mapping table found",
        setting="secretsync.mappings",
        hint=f"write {tried}, or set {ENV_PREFIX}MAPPINGS to a .toml/.yaml/.json file",
    )


def streams_url(settings: Settings, config: ServiceConfig) -> str:
    """The stream backend carrying secret-change events."""
    named = settings.backends.named().get("streams")
    return config.streams or named or f"sqlite:///{Path(settings.data_dir) / 'streams.db'}"


@dataclass
class SecretSyncService:
    """An engine on the configured table and kv, with what else the surfaces need."""

    settings: Settings
    config: ServiceConfig
    engine: SecretSync
    table_source: str
    state: KeyValueStore
    _closed: bool = field(default=False, repr=False)

    @property
    def streams_url(self) -> str:
        return streams_url(self.settings, self.config)

    @property
    def events_topic(self) -> str:
        return self.config.events_topic

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.close()
            self.state.close()


def build_service(
    settings: Settings,
    *,
    table: MappingTable | None = None,
    dead_letters: DeadLetters | None = None,
    **engine_options: Any,
) -> SecretSyncService:
    """A :class:`SecretSyncService` from ``settings`` and ``SKYBRIDGE__SECRETSYNC__*``.

    Args:
        settings: skybridge settings (``backends.kv``, ``data_dir``...).
        table: use this table instead of finding one.
        dead_letters: where failed events go (default: the kv store).
        engine_options: passed to :class:`SecretSync` (``stores``, ``clock``, ``retry``...).
    """
    config = load_config()
    source = "given"
    if table is None:
        table, source = find_table(settings, config)
    state = kv.connect(config.state or settings.backends.kv, setting="secretsync.state")
    engine_options.setdefault(
        "retry",
        RetryPolicy(
            attempts=config.attempts,
            base_delay=DEFAULT_RETRY.base_delay,
            max_delay=DEFAULT_RETRY.max_delay,
            deadline=DEFAULT_RETRY.deadline,
        ),
    )
    engine_options.setdefault("actor", config.actor)
    engine_options.setdefault("verify", config.verify_policy())
    try:
        engine = MeteredSecretSync(table, state=state, dead_letters=dead_letters, **engine_options)
    except BaseException:
        state.close()
        raise
    return SecretSyncService(settings, config, engine, source, state)


@contextmanager
def open_service(settings: Settings, **options: Any) -> Iterator[SecretSyncService]:
    """:func:`build_service`, closed afterwards."""
    service = build_service(settings, **options)
    try:
        yield service
    finally:
        service.close()

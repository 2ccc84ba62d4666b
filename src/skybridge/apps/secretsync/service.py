"""Building the secretsync engine the CLI, the HTTP routes, the dashboard, workers and cloud
functions use, from the app's context (settings and the ``[secretsync]`` section).

The mapping table comes from ``mappings`` (a path) or ``mappings_inline`` (the text); otherwise
from ``secretsync.toml`` next to the settings file (``./skybridge.toml`` or
``$SKYBRIDGE_CONFIG``), else ``<data_dir>/secretsync.toml``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skybridge.apps.kit.context import AppContext
from skybridge.apps.secretsync.config import SecretSyncConfig
from skybridge.apps.secretsync.deadletters import DeadLetters, KvDeadLetters
from skybridge.apps.secretsync.engine import DEFAULT_RETRY, SecretSync
from skybridge.apps.secretsync.loading import (
    cached_load_table,
    cached_parse_table_text,
    service_backends,
)
from skybridge.apps.secretsync.metrics import MeteredSecretSync
from skybridge.apps.secretsync.model import MappingTable
from skybridge.apps.secretsync.stream_letters import StreamDeadLetters
from skybridge.apps.secretsync.verify import VerifyPolicy
from skybridge.backends import kv
from skybridge.backends.kv import KeyValueStore
from skybridge.core.config import config_file, env_name
from skybridge.core.errors import ConfigError, SkybridgeError
from skybridge.core.retry import RetryPolicy

TABLE_FILE = "secretsync.toml"


class NoMappingTable(ConfigError):
    """No mapping table is configured and none is where one is looked for: nothing to sync
    yet (a fresh install), not a broken setting."""


Context = AppContext[SecretSyncConfig]


def table_candidates(ctx: Context) -> list[Path]:
    """Where the table is looked for when no setting names it, in order."""
    return [config_file().parent / TABLE_FILE, ctx.data_dir / TABLE_FILE]


def _configured_table(ctx: Context) -> tuple[MappingTable, str]:
    config, known = ctx.config, service_backends(ctx)
    try:
        if config.mappings_inline:
            table = cached_parse_table_text(config.mappings_inline, known)
            return table, "secretsync.mappings_inline"
        assert config.mappings is not None
        return cached_load_table(config.mappings, known), str(config.mappings)
    except SkybridgeError as exc:
        raise ConfigError(exc.message, setting="secretsync.mappings", hint=exc.hint) from None


def find_table(ctx: Context) -> tuple[MappingTable, str]:
    """The mapping table and where it came from (a path, or ``secretsync.mappings_inline``).

    The file (or setting) is read every time; its text is parsed again only when it changed
    (:func:`~skybridge.apps.secretsync.loading.cached_load_table`).

    Raises:
        ConfigError: no table anywhere, or the table is invalid (the message says what to fix).
    """
    if ctx.config.mappings_inline or ctx.config.mappings is not None:
        return _configured_table(ctx)
    for path in table_candidates(ctx):
        if path.is_file():
            try:
                return cached_load_table(path, service_backends(ctx)), str(path)
            except SkybridgeError as exc:
                raise ConfigError(exc.message, setting=str(path), hint=exc.hint) from None
    tried = " or ".join(str(p) for p in table_candidates(ctx))
    raise NoMappingTable(
        "no secretsync mapping table found",
        setting="secretsync.mappings",
        hint=f"write {tried}, or set {env_name('secretsync.mappings')} to a .toml/.yaml/.json file",
    )


def backend_probes(ctx: Context) -> dict[str, tuple[str, str]]:
    """The stores the mapping table names, for ``skybridge check`` and the Backends page
    (``secretsync.table.<name>``; a URL written in a mapping by its mapping). A store whose
    credentials come from another secret is left out: it is reached only through that one.

    Raises:
        ConfigError: no table, or an invalid one.
    """
    table, _ = find_table(ctx)
    found = {
        f"secretsync.table.{name}": ("secrets", spec.url)
        for name, spec in table.backends.items()
        if spec.credentials_from is None
    }
    for mapping in table.mappings:
        for side, pointer in (("source", mapping.source), ("target", mapping.target)):
            if "://" in pointer.backend:
                found[f"secretsync.{mapping.name}.{side}"] = ("secrets", pointer.backend)
    return found


def verify_policy(config: SecretSyncConfig) -> VerifyPolicy:
    return VerifyPolicy(
        overlap=config.change_feed_overlap,
        full_interval=config.full_verify_interval,
        use_change_feed=config.use_change_feed,
    )


def retry_policy(config: SecretSyncConfig) -> RetryPolicy:
    return RetryPolicy(
        attempts=config.attempts,
        base_delay=DEFAULT_RETRY.base_delay,
        max_delay=DEFAULT_RETRY.max_delay,
        deadline=DEFAULT_RETRY.deadline,
    )


@dataclass
class SecretSyncService:
    """An engine on the configured table and kv, with what else the surfaces need."""

    ctx: Context
    engine: SecretSync
    table_source: str
    state: KeyValueStore
    _closed: bool = field(default=False, repr=False)

    @property
    def config(self) -> SecretSyncConfig:
        return self.ctx.config

    @property
    def streams_url(self) -> str:
        return self.ctx.backend_url("streams")

    @property
    def events_topic(self) -> str:
        return self.config.events_topic

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self.engine.close()
            self.state.close()
            letters = getattr(self.engine.dead_letters, "close", None)
            if callable(letters):
                letters()


def default_dead_letters(ctx: Context, state: KeyValueStore) -> DeadLetters:
    """The app's one dead-letter store: ``<events_topic>.dlq``, or the state store (``kv``)."""
    if ctx.config.dead_letters == "kv":
        return KvDeadLetters(state)
    return StreamDeadLetters(ctx.backend_url("streams"), ctx.config.events_topic)


def connect_state(ctx: Context) -> KeyValueStore:
    """The state kv store (``secretsync.state``, else ``backends.kv``); the caller closes it."""
    url = ctx.config.state or ctx.backend_url("kv")
    return kv.connect(url, setting="secretsync.state" if ctx.config.state else "backends.kv")


def build_service(
    ctx: Context,
    *,
    table: MappingTable | None = None,
    dead_letters: DeadLetters | None = None,
    **engine_options: Any,
) -> SecretSyncService:
    """A :class:`SecretSyncService` from the app's context.

    Args:
        ctx: the app context (settings and the ``[secretsync]`` section).
        table: use this table instead of finding one.
        dead_letters: where failed events go (default: :func:`default_dead_letters`).
        engine_options: passed to :class:`SecretSync` (``stores``, ``clock``, ``retry``...).
    """
    source = "given"
    if table is None:
        table, source = find_table(ctx)
    state = connect_state(ctx)
    engine_options.setdefault("retry", retry_policy(ctx.config))
    engine_options.setdefault("actor", ctx.config.actor)
    engine_options.setdefault("verify", verify_policy(ctx.config))
    try:
        letters = dead_letters or default_dead_letters(ctx, state)
        engine = MeteredSecretSync(table, state=state, dead_letters=letters, **engine_options)
    except BaseException:
        state.close()
        raise
    return SecretSyncService(ctx, engine, source, state)


@contextmanager
def open_service(ctx: Context, **options: Any) -> Iterator[SecretSyncService]:
    """:func:`build_service`, closed afterwards."""
    service = build_service(ctx, **options)
    try:
        yield service
    finally:
        service.close()

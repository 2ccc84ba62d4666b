"""Key-value stores: ``connect("sqlite:///.skybridge/kv.db")``, ``redis://``, ``dynamodb://``.

See :mod:`skybridge.backends.kv.base` for the contract every backend keeps.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.kv.base import BatchWrite, Item, KeyValueStore, ScanPage
from skybridge.core.registry import Registry

registry: Registry[KeyValueStore] = Registry("kv", KeyValueStore)  # type: ignore[type-abstract]
registry.register("sqlite", "skybridge.backends.kv.sqlite:SQLiteStore")
registry.register("redis", "skybridge.backends.kv.redis:RedisStore", extra="redis")
registry.register("rediss", "skybridge.backends.kv.redis:RedisStore", extra="redis")
registry.register("dynamodb", "skybridge.backends.kv.dynamodb:DynamoDBStore", extra="aws")


def connect(url: str, *, setting: str | None = "backends.kv", **options: Any) -> KeyValueStore:
    """Build the key-value store ``url`` names.

    Args:
        url: e.g. ``sqlite:///.skybridge/kv.db``, ``redis://127.0.0.1:6379/0?namespace=features``,
            ``dynamodb://my-table?region=eu-west-1&create=true``.
        setting: the config key named in errors.
        **options: backend options (``namespace``, ``clock``, ``page_size``, ...); they win over
            URL parameters.
    """
    return registry.connect(url, setting=setting, **options)


__all__ = ["BatchWrite", "Item", "KeyValueStore", "ScanPage", "connect", "registry"]

"""Secret stores: ``local://`` (encrypted file), ``aws-sm://`` (AWS Secrets Manager) and
``oci-vault://`` (OCI Vault), all behind :class:`SecretStore`.

>>> from skybridge.backends import secrets
>>> store = secrets.connect("local://.skybridge/secrets")  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.secrets.base import SecretStore, VersionExists, VersionLimitReached
from skybridge.backends.secrets.types import (
    CURRENT,
    DEPRECATED,
    PENDING,
    PREVIOUS,
    STAGES,
    ChangeFeed,
    SecretChange,
    SecretInfo,
    SecretRef,
    SecretValue,
    SecretVersion,
    VersionInfo,
)
from skybridge.core.registry import Registry

__all__ = [
    "CURRENT",
    "DEPRECATED",
    "PENDING",
    "PREVIOUS",
    "STAGES",
    "ChangeFeed",
    "SecretChange",
    "SecretInfo",
    "SecretRef",
    "SecretStore",
    "SecretValue",
    "SecretVersion",
    "VersionExists",
    "VersionInfo",
    "VersionLimitReached",
    "connect",
    "registry",
]

registry: Registry[SecretStore] = Registry("secrets", SecretStore)  # type: ignore[type-abstract]
registry.register("local", "skybridge.backends.secrets.local:LocalSecretStore")
registry.register("aws-sm", "skybridge.backends.secrets.aws:AwsSecretsManager", extra="aws")
registry.register("oci-vault", "skybridge.backends.secrets.oci:OciVault", extra="oci")


def connect(url: str, *, setting: str | None = "backends.secrets", **options: Any) -> SecretStore:
    """Build the secret store for ``url`` (see the module docstring for the schemes)."""
    return registry.connect(url, setting=setting, **options)

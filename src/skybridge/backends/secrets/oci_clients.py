"""Building the OCI Vault, Secrets and Audit clients from URL options, without logging keys.

Credentials: see :mod:`skybridge.backends.cloud.oci` (``config=``, ``?auth=``,
``?config_file=`` / ``?profile=``, ``?region=``). ``?endpoint=`` overrides the service endpoint
of every client (the OCI emulator serves all three); ``?audit_endpoint=`` overrides the Audit
client's alone, and ``?change_feed=false`` builds no Audit client (no ``change_feed``
capability). The SDK's own retries are off: ``core.retry`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import oci

from skybridge.backends.cloud.oci import build_oci_client, resolve_oci_credentials
from skybridge.core.errors import ConfigError

SETTING = "backends.secrets"
_OFF = ("0", "false", "no", "off")
_ON = ("", "1", "true", "yes", "on")


@dataclass(frozen=True)
class OciClients:
    """The SDK clients of one ``oci-vault://`` store (``audit`` is ``None`` when switched off)."""

    vaults: Any
    secrets: Any
    audit: Any
    #: The API key's user OCID (who our writes are attributed to in Audit); ``None`` with
    #: instance or resource principals.
    principal_id: str | None


def build_clients(params: Mapping[str, str], config: Mapping[str, Any] | None) -> OciClients:
    """The clients for the URL ``params`` and optional ``config`` dict."""
    credentials = resolve_oci_credentials(params, config, setting=SETTING)
    endpoint = params.get("endpoint")
    vaults, secrets = (
        build_oci_client(cls, credentials, setting=SETTING, endpoint=endpoint)
        for cls in (oci.vault.VaultsClient, oci.secrets.SecretsClient)
    )
    feed = str(params.get("change_feed", "")).lower()
    if feed not in _OFF + _ON:
        raise ConfigError(f"oci-vault:// change_feed={feed!r} is not a boolean", setting=SETTING)
    audit = None
    if feed not in _OFF:
        audit = build_oci_client(
            oci.audit.AuditClient,
            credentials,
            setting=SETTING,
            endpoint=params.get("audit_endpoint") or endpoint,
        )
    principal = None if credentials.signer is not None else credentials.config.get("user")
    return OciClients(vaults, secrets, audit, principal)

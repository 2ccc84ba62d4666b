"""Building the OCI Vault and Secrets clients from URL options, without logging key material.

Credentials: see :mod:`skybridge.backends.cloud.oci` (``config=``, ``?auth=``,
``?config_file=`` / ``?profile=``, ``?region=``). ``?endpoint=`` overrides the service endpoint
of both clients (the OCI emulator uses it). The SDK's own retries are off: ``core.retry`` decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import oci

from skybridge.backends.cloud.oci import build_oci_client, resolve_oci_credentials

SETTING = "backends.secrets"


def build_clients(params: Mapping[str, str], config: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """``(VaultsClient, SecretsClient)`` for the URL ``params`` and optional ``config`` dict."""
    credentials = resolve_oci_credentials(params, config, setting=SETTING)
    vaults, secrets = (
        build_oci_client(cls, credentials, setting=SETTING, endpoint=params.get("endpoint"))
        for cls in (oci.vault.VaultsClient, oci.secrets.SecretsClient)
    )
    return vaults, secrets

"""Building the OCI Vault and Secrets clients from URL options, without logging key material.

Credentials, in order: ``config=`` (an oci config dict), ``?auth=instance_principal`` or
``?auth=resource_principal``, else the config file (``?config_file=``, ``?profile=``).
``?endpoint=`` overrides the service endpoint of both clients (the OCI emulator uses it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import oci

from skybridge.core.errors import ConfigError

SETTING = "backends.secrets"


def _signer_config(auth: str, region: str | None) -> tuple[dict[str, Any], Any]:
    try:
        if auth == "instance_principal":
            signer = oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        elif auth == "resource_principal":
            signer = oci.auth.signers.get_resource_principals_signer()
        else:
            raise ConfigError(
                f"unknown auth '{auth}' for oci-vault://",
                setting=SETTING,
                hint="use auth=instance_principal or auth=resource_principal, or omit it",
            )
    except ConfigError:
        raise
    except Exception as exc:  # the signers raise many kinds; none may carry key material
        raise ConfigError(
            f"oci-vault:// cannot get {auth} credentials: {type(exc).__name__}", setting=SETTING
        ) from None
    config: dict[str, Any] = {"region": region or getattr(signer, "region", None)}
    return config, signer


def _file_config(params: Mapping[str, str]) -> dict[str, Any]:
    path = params.get("config_file", oci.config.DEFAULT_LOCATION)
    profile = params.get("profile", oci.config.DEFAULT_PROFILE)
    try:
        return dict(oci.config.from_file(path, profile))
    except oci.exceptions.ClientError as exc:
        raise ConfigError(
            f"oci-vault:// cannot load OCI config profile '{profile}' from {path}: "
            f"{type(exc).__name__}",
            setting=SETTING,
            hint="pass ?config_file=...&profile=..., config=..., or ?auth=instance_principal",
        ) from None


def build_clients(params: Mapping[str, str], config: Mapping[str, Any] | None) -> tuple[Any, Any]:
    """``(VaultsClient, SecretsClient)`` for the URL ``params`` and optional ``config`` dict."""
    region = params.get("region")
    signer = None
    if config is not None:
        cfg = dict(config)
    elif params.get("auth"):
        cfg, signer = _signer_config(params["auth"], region)
    else:
        cfg = _file_config(params)
    if region:
        cfg["region"] = region
    kwargs: dict[str, Any] = {"retry_strategy": oci.retry.NoneRetryStrategy()}
    if signer is not None:
        kwargs["signer"] = signer
    if params.get("endpoint"):
        kwargs["service_endpoint"] = params["endpoint"]
    try:
        if signer is None:
            oci.config.validate_config(cfg)
        return oci.vault.VaultsClient(cfg, **kwargs), oci.secrets.SecretsClient(cfg, **kwargs)
    except (oci.exceptions.ClientError, ValueError) as exc:
        problems = getattr(exc, "errors", None)  # InvalidConfig: {setting: "missing"|"malformed"}
        detail = ", ".join(f"{k} {v}" for k, v in problems.items()) if problems else ""
        raise ConfigError(
            f"oci-vault:// has an invalid OCI config: {type(exc).__name__} {detail}".strip(),
            setting=SETTING,
        ) from None

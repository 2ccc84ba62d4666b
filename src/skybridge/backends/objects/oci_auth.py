"""Build an ``oci.object_storage.ObjectStorageClient`` from URL params and options.

Credentials, in order: option ``config`` (an oci config dict), ``?auth=instance_principal`` or
``?auth=resource_principal``, else the config file (``?config_file=``, default ``~/.oci/config``)
and profile (``?profile=``, default ``DEFAULT``). ``?region=`` overrides the config's region;
``?endpoint=`` (or option ``service_endpoint``) points the client somewhere else.
"""

from __future__ import annotations

from typing import Any

import oci

from skybridge.backends.objects.base import int_option
from skybridge.backends.objects.oci_errors import oci_errors
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

_AUTH_MODES = ("", "api_key", "instance_principal", "resource_principal")


def _param(url: BackendURL, options: dict[str, Any], name: str, default: Any = None) -> Any:
    return options.pop(name, url.params.get(name, default))


def sdk_config(url: BackendURL, options: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    """Return ``(config, signer)``; signer is None for API-key auth."""
    auth = _param(url, options, "auth", "")
    if auth not in _AUTH_MODES:
        raise ConfigError(f"auth={auth!r} is unknown; use one of {', '.join(_AUTH_MODES[1:])}")
    config = options.pop("config", None)
    config_file = _param(url, options, "config_file", oci.config.DEFAULT_LOCATION)
    profile = _param(url, options, "profile", oci.config.DEFAULT_PROFILE)
    region = _param(url, options, "region")
    if auth in ("instance_principal", "resource_principal"):
        signer = _principal_signer(auth)
        return {"region": region or signer.region}, signer
    with oci_errors("config"):
        if config is None:
            config = oci.config.from_file(config_file, profile)
        config = {**config, **({"region": region} if region else {})}
        oci.config.validate_config(config)
    return config, None


def _principal_signer(auth: str) -> Any:
    try:
        if auth == "instance_principal":
            return oci.auth.signers.InstancePrincipalsSecurityTokenSigner()
        return oci.auth.signers.get_resource_principals_signer()
    except (OSError, ValueError, oci.exceptions.ClientError) as exc:
        raise ConfigError(
            f"OCI {auth.replace('_', ' ')} credentials are not available here: {exc}",
            hint="run inside an OCI instance or function, or use an API key config",
        ) from exc


def retry_strategy(max_attempts: int) -> Any:
    """Exponential backoff with jitter over ``max_attempts`` tries (1: no retry)."""
    if max_attempts <= 1:
        return oci.retry.NoneRetryStrategy()
    return oci.retry.RetryStrategyBuilder(
        max_attempts=max_attempts,
        total_elapsed_time_seconds=120,
        retry_base_sleep_time_seconds=0.2,
        retry_max_wait_between_calls_seconds=5,
    ).get_retry_strategy()


def object_storage_client(url: BackendURL, options: dict[str, Any]) -> Any:
    """An ObjectStorageClient configured from ``url`` and ``options`` (consumed)."""
    config, signer = sdk_config(url, options)
    endpoint = options.pop("service_endpoint", None) or _param(url, options, "endpoint")
    kwargs: dict[str, Any] = {
        "retry_strategy": retry_strategy(int_option(url, options, "max_attempts", 4)),
        "timeout": (
            float(_param(url, options, "connect_timeout", 10)),
            float(_param(url, options, "read_timeout", 60)),
        ),
    }
    if signer is not None:
        kwargs["signer"] = signer
    if endpoint:
        kwargs["service_endpoint"] = endpoint
    with oci_errors("config"):
        return oci.object_storage.ObjectStorageClient(config, **kwargs)

"""Build an ``oci.object_storage.ObjectStorageClient`` from URL params and options.

Credentials: see :mod:`skybridge.backends.cloud.oci` (option ``config``, ``?auth=``,
``?config_file=`` / ``?profile=``, ``?region=``). ``?endpoint=`` (or option
``service_endpoint``) points the client somewhere else; ``?max_attempts=`` (default 4) are the
SDK's own tries, ``?connect_timeout=`` / ``?read_timeout=`` its timeouts.
"""

from __future__ import annotations

from typing import Any

import oci

from skybridge.backends.cloud.oci import build_oci_client, resolve_oci_credentials
from skybridge.backends.objects.base import int_option
from skybridge.core.urls import BackendURL

SETTING = "backends.objects"


def _param(url: BackendURL, options: dict[str, Any], name: str, default: Any = None) -> Any:
    return options.pop(name, url.params.get(name, default))


def object_storage_client(url: BackendURL, options: dict[str, Any]) -> Any:
    """An ObjectStorageClient configured from ``url`` and ``options`` (consumed)."""
    params = {name: _param(url, options, name) for name in ("auth", "config_file", "profile")}
    params["region"] = _param(url, options, "region")
    credentials = resolve_oci_credentials(params, options.pop("config", None), setting=SETTING)
    endpoint = options.pop("service_endpoint", None) or _param(url, options, "endpoint")
    return build_oci_client(
        oci.object_storage.ObjectStorageClient,
        credentials,
        setting=SETTING,
        endpoint=endpoint,
        retries=int_option(url, options, "max_attempts", 4),
        timeout=(
            float(_param(url, options, "connect_timeout", 10)),
            float(_param(url, options, "read_timeout", 60)),
        ),
    )

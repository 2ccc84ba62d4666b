"""OCI Generative AI inference clients for the ``oci-genai://`` embeddings and llm backends."""

from __future__ import annotations

from typing import Any

import oci

from skybridge.backends.cloud.oci import build_oci_client, resolve_oci_credentials
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL


def genai_client(url: BackendURL, options: dict[str, Any], setting: str) -> tuple[Any, str]:
    """A GenerativeAiInferenceClient and the compartment OCID, from ``url`` and ``options``."""
    params = {
        n: options.pop(n, url.params.get(n)) for n in ("auth", "config_file", "profile", "region")
    }
    credentials = resolve_oci_credentials(params, options.pop("config", None), setting=setting)
    compartment = options.pop("compartment", url.params.get("compartment"))
    if not compartment:
        raise ConfigError("OCI Generative AI needs ?compartment=OCID", setting=setting)
    region = credentials.region or "us-chicago-1"
    endpoint = options.pop("endpoint", url.params.get("endpoint")) or (
        f"https://inference.generativeai.{region}.oci.oraclecloud.com"
    )
    client = build_oci_client(
        oci.generative_ai_inference.GenerativeAiInferenceClient,
        credentials,
        setting=setting,
        endpoint=endpoint,
        retries=3,
        timeout=(10.0, 120.0),
    )
    return client, compartment

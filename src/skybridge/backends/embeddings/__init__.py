"""Embedding models: ``connect("local://all-MiniLM-L6-v2")``, ``openai+https://``, ``bedrock://``,
``oci-genai://``.

See :mod:`skybridge.backends.embeddings.base` for the contract every model keeps.
"""

from __future__ import annotations

from typing import Any

from skybridge.backends.embeddings.base import PROBE_TEXT, Embedder, Kind, Matrix
from skybridge.core.registry import Registry

registry: Registry[Embedder] = Registry("embeddings", Embedder)  # type: ignore[type-abstract]
registry.register("local", "skybridge.backends.embeddings.local:LocalEmbedder", extra="ml")
for _scheme in ("openai+https", "openai+http"):
    registry.register(_scheme, "skybridge.backends.embeddings.openai_compatible:OpenAIEmbedder")
registry.register("bedrock", "skybridge.backends.embeddings.bedrock:BedrockEmbedder", extra="aws")
registry.register(
    "oci-genai", "skybridge.backends.embeddings.oci_genai:OciGenAiEmbedder", extra="oci"
)

#: The default: the packaged all-MiniLM-L6-v2, offline.
DEFAULT_URL = "local://all-MiniLM-L6-v2"


def connect(url: str, *, setting: str | None = "backends.embeddings", **options: Any) -> Embedder:
    """Build the embedding model ``url`` names.

    Args:
        url: ``local://all-MiniLM-L6-v2`` (packaged, offline), ``local:///path/to/model``,
            ``openai+https://api.openai.com/v1?model=text-embedding-3-small``,
            ``bedrock://amazon.titan-embed-text-v2:0?region=us-east-1``,
            ``oci-genai://cohere.embed-english-v3.0?compartment=OCID&region=us-chicago-1``.
        setting: the config key named in errors.
        **options: backend options; they win over URL parameters.
    """
    return registry.connect(url, setting=setting, **options)


__all__ = ["DEFAULT_URL", "PROBE_TEXT", "Embedder", "Kind", "Matrix", "connect", "registry"]

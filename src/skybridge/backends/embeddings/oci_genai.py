"""``oci-genai://MODEL-ID?compartment=OCID&region=us-chicago-1``: OCI Generative AI embeddings.

Cohere embed models (``cohere.embed-english-v3.0``, ``cohere.embed-multilingual-v3.0``: 1024-d,
window 512 tokens, up to 96 texts per call) through the SDK's ``embed_text``, sent with
``truncate=NONE`` so the service refuses rather than cuts. Credentials as every OCI backend
(``?profile=``, ``?auth=instance_principal``...); ``?endpoint=`` overrides the service URL.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
import oci

from skybridge.backends.cloud.oci import NETWORK_ERRORS, translate_service_error
from skybridge.backends.cloud.oci_genai import genai_client
from skybridge.backends.embeddings.base import Embedder, Kind, Matrix
from skybridge.core.errors import ConfigError, TransientError
from skybridge.core.urls import BackendURL

SETTING = "backends.embeddings"


class OciGenAiEmbedder(Embedder):
    """Cohere embeddings on OCI Generative AI."""

    provider: ClassVar[str] = "oci-genai"

    def __init__(self, client: Any, model: str, compartment: str) -> None:
        super().__init__(model, max_tokens=512, batch_size=96)
        self.client = client
        self.compartment = compartment

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        client, compartment = genai_client(url, options, SETTING)
        if options:
            raise ConfigError(f"unknown oci-genai embeddings options: {', '.join(sorted(options))}")
        return cls(client, url.rest.strip("/"), compartment)

    def ping(self) -> None:
        self.embed(["ping"])

    def _embed(self, texts: list[str], kind: Kind) -> Matrix:
        models = oci.generative_ai_inference.models
        details = models.EmbedTextDetails(
            inputs=texts,
            serving_mode=models.OnDemandServingMode(model_id=self.model),
            compartment_id=self.compartment,
            input_type="SEARCH_QUERY" if kind == "query" else "SEARCH_DOCUMENT",
            truncate="NONE",
        )
        try:
            response = self.client.embed_text(details)
        except oci.exceptions.ServiceError as exc:
            raise translate_service_error(
                exc, f"OCI GenAI {exc.status} {exc.code} on {self.model}"
            ) from None
        except NETWORK_ERRORS as exc:
            raise TransientError(f"OCI GenAI unreachable: {type(exc).__name__}") from None
        return np.asarray(response.data.embeddings, dtype=np.float32)

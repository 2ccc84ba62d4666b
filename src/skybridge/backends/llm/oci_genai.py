"""``oci-genai://MODEL-ID?compartment=OCID&region=us-chicago-1``: chat on OCI Generative AI.

Models served with the GENERIC chat API format (Meta Llama, xAI Grok, OpenAI gpt-oss...).
Credentials and ``?endpoint=`` as the OCI GenAI embeddings; options ``max_tokens``,
``temperature``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import oci

from skybridge.backends.cloud.oci import NETWORK_ERRORS, translate_service_error
from skybridge.backends.cloud.oci_genai import genai_client
from skybridge.backends.llm.chat import ChatModel, tuning_options
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.core.urls import BackendURL


class OciGenAiChatModel(ChatModel):
    """A chat model on OCI Generative AI (GENERIC format)."""

    provider: ClassVar[str] = "oci-genai"

    def __init__(self, client: Any, model: str, compartment: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.client = client
        self.compartment = compartment

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        client, compartment = genai_client(url, options, "backends.llm")
        tuning = tuning_options(url, options)
        if options:
            raise ConfigError(f"unknown oci-genai llm options: {', '.join(sorted(options))}")
        return cls(client, url.rest.strip("/"), compartment, **tuning)

    def ping(self) -> None:
        self._chat("Reply with OK.", "ping")

    def _chat(self, system: str, user: str) -> str:
        models = oci.generative_ai_inference.models
        request = models.GenericChatRequest(
            api_format="GENERIC",
            messages=[
                models.SystemMessage(content=[models.TextContent(text=system)]),
                models.UserMessage(content=[models.TextContent(text=user)]),
            ],
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        details = models.ChatDetails(
            compartment_id=self.compartment,
            serving_mode=models.OnDemandServingMode(model_id=self.model),
            chat_request=request,
        )
        try:
            response = self.client.chat(details)
        except oci.exceptions.ServiceError as exc:
            raise translate_service_error(
                exc, f"OCI GenAI {exc.status} {exc.code} on {self.model}"
            ) from None
        except NETWORK_ERRORS as exc:
            raise TransientError(f"OCI GenAI unreachable: {type(exc).__name__}") from None
        try:
            content = response.data.chat_response.choices[0].message.content
        except (AttributeError, IndexError):
            raise TerminalError(f"OCI GenAI {self.model} answered an unexpected shape") from None
        return "".join(getattr(part, "text", "") or "" for part in content)

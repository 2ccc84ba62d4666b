"""``bedrock://MODEL-ID?region=us-east-1``: a chat model on Amazon Bedrock (the Converse API).

Any model Converse serves (Anthropic Claude, Amazon Nova, Meta Llama, Mistral...), or an
inference profile id. Options: ``region``, ``profile``, ``endpoint_url``, ``max_tokens``,
``temperature``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client, classify_botocore
from skybridge.backends.llm.chat import ChatModel, tuning_options
from skybridge.core.errors import ConfigError, TerminalError
from skybridge.core.urls import BackendURL


class BedrockChatModel(ChatModel):
    """A Bedrock model through Converse."""

    provider: ClassVar[str] = "bedrock"

    def __init__(self, client: Any, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.client = client

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        client = options.pop("client", None) or boto3_client(
            "bedrock-runtime",
            region=options.pop("region", url.params.get("region")),
            endpoint_url=options.pop("endpoint_url", url.params.get("endpoint_url")),
            profile=options.pop("profile", url.params.get("profile")),
            setting="backends.llm",
        )
        tuning = tuning_options(url, options)
        if options:
            raise ConfigError(f"unknown bedrock llm options: {', '.join(sorted(options))}")
        return cls(client, url.rest.strip("/"), **tuning)

    def ping(self) -> None:
        self._chat("Reply with OK.", "ping")

    def _chat(self, system: str, user: str) -> str:
        try:
            response = self.client.converse(
                modelId=self.model,
                system=[{"text": system}],
                messages=[{"role": "user", "content": [{"text": user}]}],
                inferenceConfig={"maxTokens": self.max_tokens, "temperature": self.temperature},
            )
        except (BotoCoreError, ClientError) as exc:
            raise classify_botocore(
                exc,
                service="bedrock",
                subject=self.model,
                invalid=frozenset({"ValidationException"}),
            ) from None
        try:
            content = response["output"]["message"]["content"]
        except (KeyError, TypeError):
            raise TerminalError(f"bedrock {self.model} answered an unexpected shape") from None
        return "".join(part.get("text", "") for part in content)

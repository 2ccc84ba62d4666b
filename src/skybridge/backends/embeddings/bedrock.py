"""``bedrock://MODEL-ID?region=us-east-1``: Amazon Bedrock text embeddings through InvokeModel.

Titan Text Embeddings v2 (``amazon.titan-embed-text-v2:0``; one text per call, ``dimensions``
256/512/1024, window 8192 tokens) and Cohere Embed v3 (``cohere.embed-english-v3``,
``cohere.embed-multilingual-v3``; up to 96 texts per call, window 512 tokens, ``input_type``
``search_document`` or ``search_query``; sent with ``truncate: NONE`` so Bedrock refuses
rather than cuts). Options: ``region``, ``profile``, ``endpoint_url``, ``dimensions``.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar, Self

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from skybridge.backends.cloud.aws import boto3_client, classify_botocore
from skybridge.backends.embeddings.base import Embedder, Kind, Matrix
from skybridge.core.errors import ConfigError, TerminalError
from skybridge.core.urls import BackendURL

WINDOWS = {"amazon.titan-embed-text-v2": 8192, "cohere.embed": 512}


def _family(model: str) -> str:
    bare = model.split("/")[-1]
    for prefix in WINDOWS:
        if prefix in bare:
            return prefix
    raise ConfigError(
        f"bedrock embeddings model {model!r} is not supported",
        hint="use amazon.titan-embed-text-v2:0 or cohere.embed-english-v3 / -multilingual-v3",
    )


class BedrockEmbedder(Embedder):
    """Titan v2 or Cohere v3 embeddings on Amazon Bedrock."""

    provider: ClassVar[str] = "bedrock"

    def __init__(self, client: Any, model: str, *, dimensions: int = 1024) -> None:
        self.family = _family(model)
        cohere = self.family == "cohere.embed"
        super().__init__(model, max_tokens=WINDOWS[self.family], batch_size=96 if cohere else 1)
        self.client = client
        self.dimensions = dimensions

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        model = url.rest.strip("/")
        client = options.pop("client", None) or boto3_client(
            "bedrock-runtime",
            region=options.pop("region", url.params.get("region")),
            endpoint_url=options.pop("endpoint_url", url.params.get("endpoint_url")),
            profile=options.pop("profile", url.params.get("profile")),
            setting="backends.embeddings",
        )
        dimensions = int(options.pop("dimensions", url.params.get("dimensions", 1024)))
        if options:
            raise ConfigError(f"unknown bedrock embeddings options: {', '.join(sorted(options))}")
        return cls(client, model, dimensions=dimensions)

    def ping(self) -> None:
        self.embed(["ping"])

    def _embed(self, texts: list[str], kind: Kind) -> Matrix:
        if self.family == "cohere.embed":
            body = {
                "texts": texts,
                "truncate": "NONE",
                "input_type": "search_query" if kind == "query" else "search_document",
            }
            return np.asarray(self._invoke(body)["embeddings"], dtype=np.float32)
        rows = [
            self._invoke({"inputText": t, "dimensions": self.dimensions, "normalize": True})[
                "embedding"
            ]
            for t in texts
        ]
        return np.asarray(rows, dtype=np.float32)

    def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.client.invoke_model(
                modelId=self.model,
                body=json.dumps(body),
                contentType="application/json",
                accept="application/json",
            )
            answer = json.loads(response["body"].read())
        except (BotoCoreError, ClientError) as exc:
            raise classify_botocore(
                exc,
                service="bedrock",
                subject=self.model,
                invalid=frozenset({"ValidationException"}),
            ) from None
        except (ValueError, KeyError):
            raise TerminalError(f"bedrock {self.model} answered an unexpected body") from None
        if not isinstance(answer, dict):
            raise TerminalError(f"bedrock {self.model} answered an unexpected body")
        return answer

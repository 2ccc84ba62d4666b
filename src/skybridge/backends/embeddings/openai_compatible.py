"""``openai+https://host/v1?model=NAME``: any OpenAI-compatible ``/embeddings`` endpoint.

Options: ``model`` (required), ``dimensions`` (sent when given), ``max_tokens`` (the model's
window, default 8191), ``batch_size`` (96), ``api_key_env`` (``OPENAI_API_KEY``), ``timeout``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np

from skybridge.backends.cloud.openai_http import OpenAIEndpoint
from skybridge.backends.embeddings.base import Embedder, Kind, Matrix
from skybridge.core.errors import ConfigError, TerminalError
from skybridge.core.urls import BackendURL


class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible HTTP API."""

    url_credentials = True

    provider: ClassVar[str] = "openai"

    def __init__(
        self,
        endpoint: OpenAIEndpoint,
        model: str,
        *,
        max_tokens: int = 8191,
        batch_size: int = 96,
        dimensions: int | None = None,
    ) -> None:
        super().__init__(model, max_tokens=max_tokens, batch_size=batch_size)
        self.endpoint = endpoint
        self.dimensions = dimensions

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        endpoint = OpenAIEndpoint.from_url(url, options)
        model = options.pop("model", url.params.get("model"))
        if not model:
            raise ConfigError(
                "openai embeddings need ?model=NAME", hint="e.g. ?model=text-embedding-3-small"
            )
        numbers = {
            n: int(v)
            for n in ("max_tokens", "batch_size", "dimensions")
            if (v := options.pop(n, url.params.get(n))) is not None
        }
        if options:
            raise ConfigError(f"unknown openai embeddings options: {', '.join(sorted(options))}")
        return cls(endpoint, model, **numbers)

    def ping(self) -> None:
        self.embed(["ping"])

    def _embed(self, texts: list[str], kind: Kind) -> Matrix:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        answer = self.endpoint.post("/embeddings", body)
        try:
            rows = sorted(answer["data"], key=lambda row: int(row["index"]))
            return np.asarray([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise TerminalError("the embeddings endpoint answered an unexpected shape") from None

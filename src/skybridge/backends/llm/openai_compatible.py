"""``openai+https://host/v1?model=NAME``: any OpenAI-compatible ``/chat/completions`` endpoint.

Options: ``model`` (required), ``max_tokens`` (512), ``temperature`` (0), ``api_key_env``
(``OPENAI_API_KEY``), ``timeout`` (60 s).
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

from skybridge.backends.cloud.openai_http import OpenAIEndpoint
from skybridge.backends.llm.chat import ChatModel, tuning_options
from skybridge.core.errors import ConfigError, TerminalError
from skybridge.core.urls import BackendURL


class OpenAIChatModel(ChatModel):
    """A chat model behind an OpenAI-compatible HTTP API."""

    url_credentials = True

    provider: ClassVar[str] = "openai"

    def __init__(self, endpoint: OpenAIEndpoint, model: str, **options: Any) -> None:
        super().__init__(model, **options)
        self.endpoint = endpoint

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        endpoint = OpenAIEndpoint.from_url(url, options)
        model = options.pop("model", url.params.get("model"))
        if not model:
            raise ConfigError("openai chat needs ?model=NAME", hint="e.g. ?model=gpt-4o-mini")
        tuning = tuning_options(url, options)
        if options:
            raise ConfigError(f"unknown openai chat options: {', '.join(sorted(options))}")
        return cls(endpoint, model, **tuning)

    def ping(self) -> None:
        self._chat("Reply with OK.", "ping")

    def _chat(self, system: str, user: str) -> str:
        answer = self.endpoint.post(
            "/chat/completions",
            {
                "model": self.model,
                "messages": [
                    {"role": "system", "content": system},
                    {"role": "user", "content": user},
                ],
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
            },
        )
        try:
            return str(answer["choices"][0]["message"]["content"] or "")
        except (KeyError, IndexError, TypeError):
            raise TerminalError("the chat endpoint answered an unexpected shape") from None

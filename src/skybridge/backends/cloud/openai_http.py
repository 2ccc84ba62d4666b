"""The HTTP side of OpenAI-compatible services (OpenAI, vLLM, Ollama, LM Studio, LiteLLM...).

URLs: ``openai+https://api.openai.com/v1?model=text-embedding-3-small`` (``openai+http://`` for a
local server). The API key comes from the environment variable named by ``api_key_env``
(default ``OPENAI_API_KEY``; none is sent when it is unset, as local servers need none) and
travels only in the ``Authorization`` header: it is never logged or put in an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import httpx

from skybridge.backends.notify.webhook import retry_after_seconds
from skybridge.core.errors import ConfigError, TerminalError, TransientError, ValidationError
from skybridge.core.secret import Secret
from skybridge.core.urls import BackendURL, mask_url

OWN_PARAMS = frozenset(
    {"model", "api_key_env", "timeout", "dimensions", "max_tokens", "batch_size", "temperature"}
)


@dataclass
class OpenAIEndpoint:
    """Where and how to call an OpenAI-compatible API."""

    base_url: str
    api_key: Secret[str] | None = field(default=None, repr=False)
    timeout: float = 60.0

    @classmethod
    def from_url(cls, url: BackendURL, options: dict[str, Any]) -> OpenAIEndpoint:
        scheme = url.scheme.split("+", 1)[1] if "+" in url.scheme else "https"
        if scheme not in ("http", "https"):
            raise ConfigError(
                f"openai URLs are openai+https:// or openai+http://, not {url.scheme}"
            )
        base = f"{scheme}://{url.rest.rstrip('/')}"
        env = options.pop("api_key_env", url.params.get("api_key_env", "OPENAI_API_KEY"))
        key = options.pop("api_key", None) or os.environ.get(env)
        secret = key if isinstance(key, Secret) or key is None else Secret(key)
        timeout = float(options.pop("timeout", url.params.get("timeout", 60)))
        return cls(base, secret, timeout)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` as JSON to ``base_url + path``; the JSON answer.

        Raises:
            TransientError: the server could not be reached, timed out, or answered 429/5xx.
            ValidationError: it refused the input (400, 413, 422).
            TerminalError: any other refusal (401, 403, 404...).
        """
        headers = {"Content-Type": "application/json"}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key.reveal()}"
        where = mask_url(self.base_url + path)
        try:
            response = httpx.post(
                self.base_url + path, json=body, headers=headers, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise TransientError(f"{where} unreachable: {type(exc).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(
                f"{where} answered {response.status_code}",
                retry_after=retry_after_seconds(response.headers.get("retry-after")),
            )
        if response.status_code in (400, 413, 422):
            raise ValidationError(f"{where} refused the request: {_reason(response)}")
        if response.status_code >= 300:
            raise TerminalError(f"{where} answered {response.status_code}: {_reason(response)}")
        try:
            answer = response.json()
        except ValueError:
            raise TerminalError(f"{where} did not answer JSON") from None
        if not isinstance(answer, dict):
            raise TerminalError(f"{where} answered JSON that is not an object")
        return answer


def _reason(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return response.text[:200]
    if isinstance(error, dict):
        return str(error.get("message", ""))[:200]
    return str(error)[:200]

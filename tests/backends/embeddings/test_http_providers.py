"""OpenAI-compatible, Bedrock and OCI GenAI embeddings against the local model-API test server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from skybridge.backends.embeddings import Embedder, connect
from skybridge.core.errors import ConfigError, TerminalError, TransientError
from skybridge.testing.contracts.embeddings import EmbeddingsContract
from skybridge.testing.genai import GenAiServer


@pytest.fixture(scope="module")
def genai() -> Iterator[GenAiServer]:
    with GenAiServer() as server:
        yield server


class TestOpenAICompatible(EmbeddingsContract):
    @pytest.fixture
    def embedder(self, genai: GenAiServer) -> Embedder:
        return connect(
            f"openai+http://127.0.0.1:{genai.port}/v1?model=text-embedding-3-small&batch_size=4"
        )


class TestBedrockTitan(EmbeddingsContract):
    @pytest.fixture
    def embedder(self, genai: GenAiServer, monkeypatch: pytest.MonkeyPatch) -> Embedder:
        _aws_env(monkeypatch)
        return connect(
            f"bedrock://amazon.titan-embed-text-v2:0?region=us-east-1&endpoint_url={genai.url}&dimensions=256"
        )


class TestBedrockCohere(EmbeddingsContract):
    @pytest.fixture
    def embedder(self, genai: GenAiServer, monkeypatch: pytest.MonkeyPatch) -> Embedder:
        _aws_env(monkeypatch)
        return connect(
            f"bedrock://cohere.embed-english-v3?region=us-east-1&endpoint_url={genai.url}"
        )


class TestOciGenAi(EmbeddingsContract):
    @pytest.fixture
    def embedder(self, genai: GenAiServer, oci_emulator: Any) -> Embedder:
        return connect(
            "oci-genai://cohere.embed-english-v3.0?compartment=ocid1.compartment.oc1..test",
            config=oci_emulator.sdk_config(),
            endpoint=genai.url,
        )


def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_the_api_key_goes_in_the_header_only(
    genai: GenAiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-canary-123")
    embedder = connect(f"openai+http://127.0.0.1:{genai.port}/v1?model=m&api_key_env=MY_KEY")
    embedder.embed(["hello"])
    assert genai.requests[-1].headers["Authorization"] == "Bearer sk-canary-123"
    assert "sk-canary-123" not in repr(embedder.__dict__)


def test_throttling_is_transient_and_refusals_are_terminal(genai: GenAiServer) -> None:
    embedder = connect(f"openai+http://127.0.0.1:{genai.port}/v1?model=m")
    genai.fail_next(429)
    with pytest.raises(TransientError):
        embedder.embed(["hello"])
    genai.fail_next(401)
    with pytest.raises(TerminalError):
        embedder.embed(["hello"])
    assert embedder.embed(["hello"]).shape == (1, 64)


def test_cohere_on_bedrock_is_asked_never_to_truncate(
    genai: GenAiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _aws_env(monkeypatch)
    embedder = connect(
        f"bedrock://cohere.embed-english-v3?region=us-east-1&endpoint_url={genai.url}"
    )
    embedder.embed_query("what is rag")
    body = genai.requests[-1].body
    assert body["truncate"] == "NONE"
    assert body["input_type"] == "search_query"


def test_model_and_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="model"):
        connect("openai+http://127.0.0.1:1/v1")
    with pytest.raises(ConfigError, match="not supported"):
        connect("bedrock://meta.llama3?region=us-east-1")

"""Answer models: extractive (no model) and the chat providers against the local test server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from skybridge.backends.llm import LanguageModel, Passage, connect
from skybridge.core.errors import ConfigError, TransientError
from skybridge.testing.contracts.llm import PASSAGES, LLMContract
from skybridge.testing.genai import GenAiServer


@pytest.fixture(scope="module")
def genai() -> Iterator[GenAiServer]:
    with GenAiServer() as server:
        yield server


class TestExtractive(LLMContract):
    @pytest.fixture
    def model(self) -> LanguageModel:
        return connect("extractive://")


class TestOpenAICompatible(LLMContract):
    @pytest.fixture
    def model(self, genai: GenAiServer) -> LanguageModel:
        return connect(f"openai+http://127.0.0.1:{genai.port}/v1?model=test-chat")


class TestBedrock(LLMContract):
    @pytest.fixture
    def model(self, genai: GenAiServer, monkeypatch: pytest.MonkeyPatch) -> LanguageModel:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        return connect(
            f"bedrock://anthropic.claude-3-5-haiku?region=us-east-1&endpoint_url={genai.url}"
        )


class TestOciGenAi(LLMContract):
    @pytest.fixture
    def model(self, genai: GenAiServer, oci_emulator: Any) -> LanguageModel:
        return connect(
            "oci-genai://meta.llama-3.3-70b-instruct?compartment=ocid1.compartment.oc1..test",
            config=oci_emulator.sdk_config(),
            endpoint=genai.url,
        )


def test_extractive_answers_are_verbatim_sentences_of_the_cited_passages() -> None:
    answer = connect("extractive://").answer("When was the Eiffel Tower finished?", PASSAGES)
    assert answer.grounded
    assert [c.document for c in answer.citations] == ["eiffel"]
    assert "It was finished in 1889 for the World's Fair. [1]" in answer.text


def test_extractive_falls_back_to_the_best_passage_without_overlap() -> None:
    answer = connect("extractive://").answer("zebra quantum?", PASSAGES)
    assert answer.text == "The Eiffel Tower is in Paris. [1]"
    assert [c.n for c in answer.citations] == [1]


def test_chat_models_get_numbered_passages_and_a_citation_rule(genai: GenAiServer) -> None:
    model = connect(f"openai+http://127.0.0.1:{genai.port}/v1?model=m&temperature=0")
    answer = model.answer("When was it finished?", PASSAGES)
    sent = genai.requests[-1].body
    assert "[1] (Eiffel Tower)" in sent["messages"][1]["content"]
    assert "square brackets" in sent["messages"][0]["content"]
    assert answer.grounded
    assert answer.citations[0].chunk == "eiffel#0"


def test_an_answer_citing_nothing_is_marked_ungrounded() -> None:
    class Uncited(LanguageModel):
        @classmethod
        def from_url(cls, url: Any, **options: Any) -> Uncited:
            return cls("uncited")

        def ping(self) -> None:
            return

        def _answer(self, question: str, passages: list[Passage]) -> tuple[str, list[int]]:
            return "Paris, I think. [7]", [7]

    answer = Uncited("uncited").answer("where?", PASSAGES)
    assert not answer.grounded
    assert [c.n for c in answer.citations] == [1, 2]


def test_throttled_chat_is_transient(genai: GenAiServer) -> None:
    genai.fail_next(503)
    with pytest.raises(TransientError):
        connect(f"openai+http://127.0.0.1:{genai.port}/v1?model=m").answer("q?", PASSAGES)


def test_options_are_checked() -> None:
    with pytest.raises(ConfigError):
        connect("extractive://?colour=red")
    with pytest.raises(ConfigError, match="temperature"):
        connect("openai+http://127.0.0.1:1/v1?model=m&temperature=hot")

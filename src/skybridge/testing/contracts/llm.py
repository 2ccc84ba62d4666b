"""Contract suite every answer model passes.

Subclass :class:`LLMContract` with a fixture ``model`` (a ready :class:`LanguageModel`); chat
models run against :class:`skybridge.testing.genai.GenAiServer`::

    class TestExtractive(LLMContract):
        @pytest.fixture
        def model(self):
            return connect("extractive://")
"""

from __future__ import annotations

import pytest

from skybridge.backends.llm import NOTHING_FOUND, LanguageModel, Passage
from skybridge.core.errors import ValidationError

PASSAGES = [
    Passage(
        1,
        "The Eiffel Tower is in Paris. It was finished in 1889 for the World's Fair.",
        "eiffel",
        "eiffel#0",
        0.91,
        "file://docs/eiffel.md",
        "Eiffel Tower",
    ),
    Passage(
        2,
        "Mount Fuji is the highest mountain in Japan. It last erupted in 1707.",
        "fuji",
        "fuji#0",
        0.42,
        "file://docs/fuji.md",
        "Mount Fuji",
    ),
]


class LLMContract:
    """The behaviour every :class:`LanguageModel` shares."""

    def test_answers_cite_passages_they_were_given(self, model: LanguageModel) -> None:
        answer = model.answer("When was the Eiffel Tower finished?", PASSAGES)
        assert answer.text
        assert answer.citations
        given = {(p.n, p.document, p.chunk, p.score, p.source) for p in PASSAGES}
        for c in answer.citations:
            assert (c.n, c.document, c.chunk, c.score, c.source) in given
        if answer.grounded:
            assert all(f"[{c.n}]" in answer.text for c in answer.citations)

    def test_no_passages_means_no_call_and_no_citations(self, model: LanguageModel) -> None:
        answer = model.answer("What is the capital of Mars?", [])
        assert answer.text == NOTHING_FOUND
        assert answer.citations == []

    def test_bad_input_is_refused(self, model: LanguageModel) -> None:
        with pytest.raises(ValidationError):
            model.answer("  ", PASSAGES)
        with pytest.raises(ValidationError):
            model.answer("x" * 5000, PASSAGES)
        with pytest.raises(ValidationError, match="numbered"):
            model.answer("why?", PASSAGES[::-1])

    def test_answer_serialises(self, model: LanguageModel) -> None:
        data = model.answer("How high is Mount Fuji?", PASSAGES).to_dict()
        assert set(data) == {"text", "citations", "model", "grounded"}
        assert {"n", "document", "chunk", "score", "source", "title"} <= set(data["citations"][0])

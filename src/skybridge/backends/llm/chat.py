"""What chat models share: the grounded prompt with numbered passages, and ``[n]`` citations."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from skybridge.backends.llm.base import LanguageModel, Passage, cited_numbers
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages given. Cite every claim with the "
    "number of its passage in square brackets, like [1] or [2][3]. If the passages do not "
    "contain the answer, say that you do not know. Be brief."
)


def grounded_prompt(question: str, passages: list[Passage]) -> str:
    """The user message: numbered passages, then the question."""
    blocks = []
    for p in passages:
        label = f" ({p.title})" if p.title else ""
        blocks.append(f"[{p.n}]{label}\n{p.text}")
    return "Passages:\n\n" + "\n\n".join(blocks) + f"\n\nQuestion: {question}"


class ChatModel(LanguageModel):
    """A model behind a chat API: subclasses send one system and one user message."""

    def __init__(self, model: str, *, max_tokens: int = 512, temperature: float = 0.0) -> None:
        super().__init__(model)
        self.max_tokens = max_tokens
        self.temperature = temperature

    @abstractmethod
    def _chat(self, system: str, user: str) -> str:
        """The model's reply to one system and one user message."""

    def _answer(self, question: str, passages: list[Passage]) -> tuple[str, list[int]]:
        reply = self._chat(SYSTEM_PROMPT, grounded_prompt(question, passages))
        return reply, cited_numbers(reply)


def tuning_options(url: BackendURL, options: dict[str, Any]) -> dict[str, Any]:
    """``max_tokens`` and ``temperature`` from ``options`` or the URL."""
    tuning: dict[str, Any] = {}
    for name, kind in (("max_tokens", int), ("temperature", float)):
        value = options.pop(name, url.params.get(name))
        if value is not None:
            try:
                tuning[name] = kind(value)
            except (TypeError, ValueError):
                raise ConfigError(f"llm {name} must be a number, got {value!r}") from None
    return tuning

"""``extractive://``: answers made of sentences copied from the passages, with no model.

Each sentence of the passages is scored by the question's words it contains (rarer words weigh
more) plus a little for the passage's own rank; the best ``max_sentences`` (3) that share a word
with the question and score at least half as well as the best one are returned in passage
order, each followed by its ``[n]`` marker. When no sentence shares a word, the first sentence
of the best passage is the answer. The answer is always verbatim text of the cited passages
(white space collapsed).
"""

from __future__ import annotations

import math
import re
from typing import Any, ClassVar, Self

from skybridge.backends.llm.base import LanguageModel, Passage
from skybridge.core.errors import ConfigError
from skybridge.core.urls import BackendURL

#: Sentences scoring below this share of the best one are left out of the answer.
RELEVANCE_FLOOR = 0.5
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{2,}")
_WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "there",
        "these",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (and paragraphs), white space collapsed."""
    return [" ".join(s.split()) for s in _SENTENCE.split(text) if s and s.strip()]


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


class ExtractiveModel(LanguageModel):
    """Answers by extraction: no model, no network, always grounded."""

    provider: ClassVar[str] = "extractive"

    def __init__(self, *, max_sentences: int = 3) -> None:
        super().__init__("extractive")
        if max_sentences < 1:
            raise ConfigError("extractive max_sentences must be >= 1")
        self.max_sentences = max_sentences

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        value = options.pop("max_sentences", url.params.get("max_sentences", 3))
        unknown = sorted(set(options) | (set(url.params) - {"max_sentences"}))
        if unknown:
            raise ConfigError(
                f"unknown extractive options: {', '.join(unknown)}", hint="use max_sentences"
            )
        return cls(max_sentences=int(value))

    def ping(self) -> None:
        return

    def _answer(self, question: str, passages: list[Passage]) -> tuple[str, list[int]]:
        wanted = words(question)
        candidates = [(p, i, s) for p in passages for i, s in enumerate(sentences(p.text))]
        if not candidates:
            return passages[0].text.strip(), [passages[0].n]
        weight = _idf(wanted, [s for _, _, s in candidates])
        scored = []
        for rank, (p, i, s) in enumerate(candidates):
            overlap = sum(weight[w] for w in wanted & words(s))
            if overlap > 0:
                scored.append((overlap + 0.1 / p.n, -rank, p, i, s))
        if not scored:
            first = passages[0]
            return f"{sentences(first.text)[0]} [{first.n}]", [first.n]
        ranked = sorted(scored, key=lambda t: (t[0], t[1]), reverse=True)
        floor = ranked[0][0] * RELEVANCE_FLOOR
        best = [t for t in ranked if t[0] >= floor][: self.max_sentences]
        chosen = sorted(best, key=lambda t: (t[2].n, t[3]))
        text = " ".join(f"{s} [{p.n}]" for _, _, p, _, s in chosen)
        return text, list(dict.fromkeys(p.n for _, _, p, _, _ in chosen))


def _idf(wanted: set[str], texts: list[str]) -> dict[str, float]:
    bags = [words(t) for t in texts]
    n = len(bags)
    return {w: math.log(1 + n / (1 + sum(w in b for b in bags))) for w in wanted}

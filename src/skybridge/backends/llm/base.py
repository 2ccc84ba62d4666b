"""The answer contract: a question and numbered passages in, an answer with citations out.

An implementation provides :meth:`LanguageModel._answer`, returning the answer text and the
numbers of the passages it used; :class:`LanguageModel` checks the input, maps the numbers to
:class:`Citation` objects (document, chunk, score, source of each passage) and keeps the rules:

* Every answer given passages carries citations, and each points at a passage it was given.
  A generative model that cites nothing valid gets the passages it was shown as citations and
  ``grounded=False``, so callers can tell.
* No passages: no model is called; the answer says nothing was found.
* Chat models are asked to cite with ``[n]`` markers; markers naming no passage are dropped.
"""

from __future__ import annotations

import re
import time
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from prometheus_client import Histogram

from skybridge.core.backend import Backend
from skybridge.core.errors import ValidationError
from skybridge.core.observability import METRICS, observe_call

NOTHING_FOUND = "I found nothing in the indexed documents that answers this."
MAX_QUESTION_CHARS = 4000
_MARKER = re.compile(r"\[(\d{1,3})\]")

ANSWER_SECONDS = Histogram(
    "skybridge_llm_answer_seconds",
    "Time to produce one answer, by provider.",
    ["provider"],
    registry=METRICS,
)


@dataclass(frozen=True)
class Passage:
    """Context handed to the model; ``n`` is its 1-based number in the prompt."""

    n: int
    text: str
    document: str
    chunk: str
    score: float
    source: str = ""
    title: str = ""


@dataclass(frozen=True)
class Citation:
    """A passage the answer rests on."""

    n: int
    document: str
    chunk: str
    score: float
    source: str = ""
    title: str = ""

    @classmethod
    def of(cls, passage: Passage) -> Citation:
        return cls(
            passage.n, passage.document, passage.chunk, passage.score, passage.source, passage.title
        )


@dataclass(frozen=True)
class Answer:
    """An answer, the passages it cites, and whether the model cited them itself."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    model: str = ""
    grounded: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cited_numbers(text: str) -> list[int]:
    """The ``[n]`` markers in ``text``, in order of first appearance."""
    return list(dict.fromkeys(int(m) for m in _MARKER.findall(text)))


class LanguageModel(Backend):
    """Something that answers questions from passages, with citations."""

    provider: ClassVar[str] = "llm"

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    def _answer(self, question: str, passages: list[Passage]) -> tuple[str, list[int]]:
        """The answer to ``question`` from ``passages`` (non-empty) and the numbers it used."""

    def answer(self, question: str, passages: Sequence[Passage]) -> Answer:
        """Answer ``question`` from ``passages``.

        Raises:
            ValidationError: an empty or too long question, or passages not numbered 1..n.
        """
        question = _checked_question(question)
        given = list(passages)
        if [p.n for p in given] != list(range(1, len(given) + 1)):
            raise ValidationError("passages must be numbered 1, 2, ... in order")
        if not given:
            return Answer(NOTHING_FOUND, [], self.model, grounded=True)
        start = time.perf_counter()
        with observe_call("llm", self.provider, "answer"):
            text, used = self._answer(question, given)
        ANSWER_SECONDS.labels(self.provider).observe(time.perf_counter() - start)
        by_number = {p.n: p for p in given}
        citations = [Citation.of(by_number[n]) for n in used if n in by_number]
        if citations:
            return Answer(text.strip(), citations, self.model, grounded=True)
        return Answer(text.strip(), [Citation.of(p) for p in given], self.model, grounded=False)


def _checked_question(question: object) -> str:
    if not isinstance(question, str) or not question.strip():
        raise ValidationError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValidationError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return question.strip()

"""The generative option: a language model (the ``llm`` family) proposes items from a prompt of
the user's recent items and a context, grounded to the catalogue.

The model is shown numbered candidate items (the user's vector candidates, then popular ones),
each as ``item:<id>``, and asked to name items by id and cite them with ``[n]``. Every id it
proposes, by citation or by writing ``item:<id>``, is checked: an id the catalogue does not
hold, an item the user has seen, or one outside the filters is refused with the reason; only
checked catalogue ids are returned, each with the sentence that proposed it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from skybridge.apps.recommend.catalogue import Item
from skybridge.apps.recommend.events import check_id
from skybridge.apps.recommend.ranking import (
    Categories,
    business_filter,
    check_categories,
    check_k,
    recommend,
)
from skybridge.apps.recommend.service import Recommender
from skybridge.backends.llm import LanguageModel, Passage
from skybridge.core.errors import ValidationError

_MENTION = re.compile(r"item:([A-Za-z0-9][A-Za-z0-9._:@/-]{0,127})")
# a sentence ends after its punctuation and the [n] markers that follow it
_SENTENCE = re.compile(r"(?<=[.!?\]])\s+(?!\[)|\n+")
_MARKERS = re.compile(r"\s*\[\d{1,3}\]")
MAX_CONTEXT = 1000
OFFERED = 20


@dataclass(frozen=True)
class Proposal:
    """An item the model proposed and the verdict on it."""

    item: str
    reason: str
    title: str = ""
    category: str = ""


@dataclass(frozen=True)
class Generated:
    """Checked proposals (``items``), refused ones (``rejected``, with why) and the raw text."""

    user: str
    model: str
    items: list[Proposal] = field(default_factory=list)
    rejected: list[Proposal] = field(default_factory=list)
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate(
    engine: Recommender,
    user: str,
    *,
    context: str | None = None,
    k: int | None = None,
    categories: Categories = (),
    llm: LanguageModel | None = None,
) -> Generated:
    """Items the language model proposes for ``user``, checked against the catalogue.

    Args:
        engine: The recommender.
        user: The user id.
        context: What the user is doing now, for the prompt (``None`` or ``""``: none).
        k: How many items at most (default ``recommend.top_k``).
        categories: One category or several, as for :func:`.ranking.recommend`.
        llm: The language model (default the ``llm`` backend).

    Raises:
        ValidationError: a bad user id, context, ``k`` or category.
    """
    check_id(user, "user")
    context = _checked_context(context)
    k = check_k(engine.config.top_k if k is None else k)
    categories = check_categories(categories)
    offered = recommend(engine, user, k=OFFERED, categories=categories, record=False).ids()
    catalogue = engine.catalogue.get_many(offered)
    passages = [
        Passage(n, _describe(catalogue.get(i) or Item(i)), i, i, 1.0 / n, title=i)
        for n, i in enumerate(offered, 1)
    ]
    model = llm or engine.llm
    answer = model.answer(_prompt(engine, user, context, k), passages)
    cited = [c.document for c in answer.citations] if answer.grounded else []
    proposed = list(dict.fromkeys([*cited, *_MENTION.findall(answer.text)]))
    accepted, rejected = _check(engine, user, proposed, categories, answer.text, k)
    return Generated(user, answer.model, accepted, rejected, answer.text)


def _checked_context(context: object) -> str:
    if context is None:
        return ""
    if not isinstance(context, str):
        raise ValidationError(f"context must be text, got {type(context).__name__}")
    if len(context) > MAX_CONTEXT:
        raise ValidationError(f"the context is longer than {MAX_CONTEXT} characters")
    return context


def _describe(item: Item) -> str:
    category = f" (category {item.category})" if item.category else ""
    return f"item:{item.id} {item.title or 'untitled'}{category}."


def _prompt(engine: Recommender, user: str, context: str, k: int) -> str:
    profile = engine.profiles.get(user)
    recent = [r[2] for r in reversed(profile["recent"])] if profile else []
    titles = engine.catalogue.get_many(recent[:5])
    shown = ", ".join(
        f"item:{i} ({titles[i].title})" if i in titles else f"item:{i}" for i in recent[:5]
    )
    return (
        f"User {user}. Recent items: {shown or 'none'}. Context: {context.strip() or 'none'}. "
        f"Which {k} of the listed catalogue items should this user see next? Name each as "
        "item:<id>, cite it with its [n] and give a short reason. Name only listed items."
    )


def _check(
    engine: Recommender,
    user: str,
    proposed: list[str],
    categories: Sequence[str],
    text: str,
    k: int,
) -> tuple[list[Proposal], list[Proposal]]:
    known = engine.catalogue.get_many(proposed)
    model = engine.model()
    in_model = set(model[1].ids) if model else set()
    profile = engine.profiles.get(user)
    seen = set(profile["items"]) | set(profile["hidden"]) if profile else set()
    flt = business_filter(engine, categories)
    accepted: list[Proposal] = []
    rejected: list[Proposal] = []
    for item in proposed:
        found = known.get(item)
        verdict = _verdict(
            item, found, in_model, seen, flt.matches((found or Item(item)).metadata())
        )
        if verdict is None and found is not None:
            if len(accepted) < k:
                accepted.append(Proposal(item, _sentence(text, item), found.title, found.category))
        else:
            rejected.append(Proposal(item, verdict or "not in the catalogue"))
    return accepted, rejected


def _verdict(
    item: str, found: Item | None, in_model: set[str], seen: set[str], passes: bool
) -> str | None:
    if found is None:
        known_only_by_model = item in in_model
        return "not in the catalogue" + (" (only in the model)" if known_only_by_model else "")
    if item in seen:
        return "already seen by the user"
    if not passes:
        return "outside the filters (unavailable or another category)"
    return None


def _sentence(text: str, item: str) -> str:
    for sentence in _SENTENCE.split(text):
        if f"item:{item}" in sentence:
            return _MARKERS.sub("", sentence).strip()[:300]
    return "proposed by the model"

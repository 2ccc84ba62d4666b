"""The generative option returns only checked catalogue ids; everything else is refused with
the reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.recommend.generative import generate
from skybridge.apps.recommend.service import Recommender
from skybridge.core.errors import ValidationError
from skybridge.testing.genai import GenAiServer


class ScriptedChat(GenAiServer):
    """An OpenAI-compatible chat server that answers every chat with ``reply`` and records
    the prompts."""

    reply = "Take [1]."

    def answer(self, path: str, body: Any) -> tuple[int, Any]:
        status, found = super().answer(path, body)
        if path.split("?")[0].endswith("/chat/completions") and status == 200:
            found["choices"][0]["message"]["content"] = self.reply
        return status, found


@pytest.fixture
def chat(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedChat]:
    with ScriptedChat() as server:
        monkeypatch.setenv(
            "SKYBRIDGE__BACKENDS__LLM", f"openai+http://127.0.0.1:{server.port}/v1?model=recs"
        )
        yield server


def prompt_of(server: GenAiServer) -> str:
    body = server.requests[-1].body
    return "\n".join(str(m.get("content", "")) for m in body["messages"])


def test_unknown_seen_and_unavailable_ids_are_refused(
    chat: ScriptedChat, trained: Recommender
) -> None:
    seen = next(iter(trained.profiles.get("A01")["items"]))  # type: ignore[index]
    chat.reply = (
        f"Try item:ghost-1 for the weekend. item:{seen} again. item:a6 is great. "
        "item:g3 fits the context."
    )
    found = generate(trained, "A01", context="weekend trip")
    assert found.model == "recs"
    reasons = {p.item: p.reason for p in found.rejected}
    assert reasons["ghost-1"] == "not in the catalogue"
    if seen != "a6":
        assert reasons[seen] == "already seen by the user"
    assert reasons["a6"] in {
        "already seen by the user",
        "outside the filters (unavailable or another category)",
    }
    accepted = [p.item for p in found.items]
    assert "ghost-1" not in accepted
    assert seen not in accepted
    if "g3" not in trained.profiles.get("A01")["items"]:  # type: ignore[index]
        assert accepted == ["g3"]
        assert found.items[0].reason == "item:g3 fits the context."
    prompt = prompt_of(chat)
    assert "weekend trip" in prompt
    assert "Recent items" in prompt
    assert "[1] " in prompt


def test_citations_map_to_offered_catalogue_items(chat: ScriptedChat, trained: Recommender) -> None:
    chat.reply = "Take [1] and [2], and [99] which was never offered."
    found = generate(trained, "B02")
    assert len(found.items) == 2
    assert not found.rejected
    assert all(trained.catalogue.get(p.item) is not None for p in found.items)


def test_the_default_extractive_model_stays_in_the_catalogue(trained: Recommender) -> None:
    found = generate(trained, "A02", context="alpha gear", k=3)
    assert found.model == "extractive"
    assert 1 <= len(found.items) <= 3
    assert all(trained.catalogue.get(p.item) is not None for p in found.items)


def test_too_long_context_is_refused(chat: ScriptedChat, trained: Recommender) -> None:
    with pytest.raises(ValidationError, match="context"):
        generate(trained, "A01", context="x" * 1001)
    assert not chat.requests


def test_no_context_is_none_or_empty(chat: ScriptedChat, trained: Recommender) -> None:
    generate(trained, "B02", context=None)
    assert "Context: none." in prompt_of(chat)
    with pytest.raises(ValidationError, match="context must be text, got int"):
        generate(trained, "B02", context=5)  # type: ignore[arg-type]
    assert len(chat.requests) == 1


def test_a_single_category_string_is_one_category(chat: ScriptedChat, trained: Recommender) -> None:
    chat.reply = "Take item:g3, item:b2 and item:a1 now."
    found = generate(trained, "B02", categories="gamma", k=5)
    by_reason = {p.item: p.reason for p in found.rejected}
    assert [p.category for p in found.items] in ([], ["gamma"])
    assert all(i not in {p.item for p in found.items} for i in ("b2", "a1"))
    seen = trained.profiles.get("B02")["items"]  # type: ignore[index]
    if "g3" not in seen:
        assert [p.item for p in found.items] == ["g3"]
    if "a1" not in seen:
        assert by_reason["a1"] == "outside the filters (unavailable or another category)"
    with pytest.raises(ValidationError, match="got bytes"):
        generate(trained, "B02", categories=b"gamma")  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [0, -5, 1000])
def test_a_k_out_of_range_is_refused_before_the_model_is_asked(
    chat: ScriptedChat, trained: Recommender, k: int
) -> None:
    with pytest.raises(ValidationError, match="k must be between 1 and 100"):
        generate(trained, "A01", k=k)
    assert not chat.requests

"""Contract suite every knowledge base (``retrieval`` family) passes.

A knowledge base is read-only here, so the suite runs against one that holds :data:`CORPUS`
(synced by the service from those documents). Subclass :class:`RetrievalContract` with a
fixture ``knowledge_base`` returning it::

    class TestBedrock(RetrievalContract):
        @pytest.fixture
        def knowledge_base(self):
            with KnowledgeBaseServer({"KBTEST0001": stored(CORPUS)}) as server:
                yield connect(f"bedrock-kb://KBTEST0001?endpoint_url={server.url}")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from skybridge.backends.retrieval import KnowledgeBase
from skybridge.core.errors import ValidationError


@dataclass(frozen=True)
class Document:
    """A document the contract's knowledge base holds (one passage each)."""

    key: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


CORPUS = (
    Document(
        "runbooks/paging.md",
        "Every page must be acknowledged within ten minutes by the primary on-call engineer.",
        {"team": "ops", "year": 2023, "public": False},
    ),
    Document(
        "runbooks/backups.md",
        "Database base backups run nightly and are kept for thirty-five days.",
        {"team": "ops", "year": 2024, "public": False},
    ),
    Document(
        "policies/access.md",
        "Production access is approved by the engineering manager and expires in twelve hours.",
        {"team": "security", "year": 2024, "public": True},
    ),
    Document(
        "policies/laptops.md",
        "Laptops are encrypted and backed up weekly to the company's backup service.",
        {"team": "it", "year": 2022, "public": True},
    ),
    Document(
        "sales/discounts.md",
        "Discounts above twenty percent are approved by the sales director.",
        {"team": "sales", "year": 2024, "public": False},
    ),
)


class RetrievalContract:
    """The behaviour every :class:`KnowledgeBase` shares."""

    def test_the_relevant_passage_comes_first(self, knowledge_base: KnowledgeBase) -> None:
        found = knowledge_base.retrieve("how long are database backups kept", k=3)
        assert found[0].source.endswith("runbooks/backups.md")
        assert "thirty-five days" in found[0].text
        assert found[0].id

    def test_at_most_k_best_first(self, knowledge_base: KnowledgeBase) -> None:
        for k in (1, 2, 5):
            found = knowledge_base.retrieve("approved by the manager or director", k=k)
            assert 1 <= len(found) <= k
            scores = [r.score for r in found]
            assert scores == sorted(scores, reverse=True)
        ids = [r.id for r in knowledge_base.retrieve("backups", k=5)]
        assert len(ids) == len(set(ids))

    def test_equality_filters_are_pushed_down(self, knowledge_base: KnowledgeBase) -> None:
        found = knowledge_base.retrieve("who approves", k=5, flt={"team": "sales"})
        assert [r.source.split("/")[-1] for r in found] == ["discounts.md"]
        public = knowledge_base.retrieve("backed up", k=5, flt={"public": True})
        assert public
        assert all(r.metadata["public"] is True for r in public)

    def test_in_and_number_ranges(self, knowledge_base: KnowledgeBase) -> None:
        teams = knowledge_base.retrieve("approved", k=5, flt={"team": {"in": ["it", "security"]}})
        assert {r.metadata["team"] for r in teams} <= {"it", "security"}
        assert any(r.metadata["team"] == "security" for r in teams)
        recent = knowledge_base.retrieve(
            "backups", k=5, flt={"year": {"gte": 2023, "lt": 2024}, "team": "ops"}
        )
        assert [r.metadata["year"] for r in recent] == [2023]

    def test_a_filter_nothing_matches_gives_nothing(self, knowledge_base: KnowledgeBase) -> None:
        assert knowledge_base.retrieve("backups", k=5, flt={"team": "finance"}) == []

    def test_bad_input_is_refused_before_any_call(self, knowledge_base: KnowledgeBase) -> None:
        for query in ("", "   ", None, "x" * (knowledge_base.max_query_chars + 1)):
            with pytest.raises(ValidationError):
                knowledge_base.retrieve(query, k=3)  # type: ignore[arg-type]
        for k in (0, -1, knowledge_base.max_k + 1, True, 2.5):
            with pytest.raises(ValidationError):
                knowledge_base.retrieve("backups", k=k)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            knowledge_base.retrieve("backups", flt={"team": {"like": "o%"}})
        with pytest.raises(ValidationError):
            knowledge_base.retrieve("backups", search="fuzzy")  # type: ignore[arg-type]

    def test_it_declares_filters_and_offers_no_writes(self, knowledge_base: KnowledgeBase) -> None:
        assert knowledge_base.supports("filters")
        for write in ("upsert", "delete", "create_collection", "ingest"):
            assert not hasattr(knowledge_base, write)

    def test_search_modes_it_declares_work(self, knowledge_base: KnowledgeBase) -> None:
        found = knowledge_base.retrieve("nightly backups", k=2, search="semantic")
        assert found
        if knowledge_base.supports("hybrid"):
            assert knowledge_base.retrieve("nightly backups", k=2, search="hybrid")
        else:
            with pytest.raises(ValidationError):
                knowledge_base.retrieve("nightly backups", search="hybrid")

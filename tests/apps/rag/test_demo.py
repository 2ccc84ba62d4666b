"""The demo: the handbook is indexed and the demo question answered, once."""

from __future__ import annotations

from pathlib import Path

from skybridge.apps.rag.demo import DEMO_QUESTION, demo_answer_key, seed
from skybridge.apps.rag.manifest import APP
from skybridge.apps.rag.service import open_rag

from .conftest import rag_context


def test_the_demo_indexes_the_handbook_and_answers_once(workdir: Path) -> None:
    assert APP.demo_background  # loading the model must not hold up `skybridge up --demo`
    seed(rag_context())
    with open_rag(rag_context()) as rag:
        stored = rag.kv.get_json(demo_answer_key(rag.collection))
        assert stored["question"] == DEMO_QUESTION
        assert "10 minutes" in stored["text"]
        assert stored["citations"][0]["document"] == "oncall-runbook.md"
        chunks = rag.vectors.count(rag.collection)
        revision = rag.describe().revision  # type: ignore[union-attr]
    seed(rag_context())
    with open_rag(rag_context()) as rag:
        assert rag.vectors.count(rag.collection) == chunks
        assert rag.describe().revision == revision  # type: ignore[union-attr]
        assert {d.id for d in rag.documents.entries()} == {
            "oncall-runbook.md",
            "backups.md",
            "architecture.html",
            "faq.txt",
        }

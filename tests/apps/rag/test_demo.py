"""The demo: the handbook is indexed, its baseline recorded and the demo question answered,
once."""

from __future__ import annotations

from pathlib import Path

from skybridge.apps.rag.datasets import load_query_set
from skybridge.apps.rag.demo import DEMO_QUESTION, demo_answer_key, demo_query_set, seed
from skybridge.apps.rag.manifest import APP
from skybridge.apps.rag.monitoring import baseline_key
from skybridge.apps.rag.service import open_rag
from skybridge.apps.rag.status import status

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
        baseline = rag.kv.get_json(baseline_key(rag.collection))
        assert baseline["dataset"] == "handbook_eval"
        # each bundled question names the one document that answers it; hybrid finds them all
        assert baseline["modes"]["hybrid"]["recall@10"] == 1.0
        assert baseline["modes"]["hybrid"]["ndcg@10"] >= 0.8, baseline["modes"]
        found = status(rag)
        assert found["rolling_similarity"] is not None  # the demo question counts, as any query
    seed(rag_context())
    with open_rag(rag_context()) as rag:
        assert rag.vectors.count(rag.collection) == chunks
        assert rag.describe().revision == revision  # type: ignore[union-attr]
        assert rag.kv.get_json(baseline_key(rag.collection)) == baseline  # recorded once
        assert {d.id for d in rag.documents.entries()} == {
            "oncall-runbook.md",
            "backups.md",
            "architecture.html",
            "faq.txt",
        }


def test_the_bundled_questions_name_documents_of_the_handbook() -> None:
    questions = load_query_set(demo_query_set())
    assert len(questions.judged) == 8
    handbook = {"oncall-runbook.md", "backups.md", "architecture.html", "faq.txt"}
    assert {doc for judged in questions.qrels.values() for doc in judged} == handbook

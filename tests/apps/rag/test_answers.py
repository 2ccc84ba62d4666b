"""Answers: citations point at the chunks used; filters; modes; rolling-score alerts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from skybridge.apps.rag.answers import any_relevant, ask, query
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.monitoring import baseline_key
from skybridge.apps.rag.retrieval import Hit
from skybridge.apps.rag.service import Rag, open_rag
from skybridge.backends.llm.base import NOTHING_FOUND
from skybridge.core.errors import NotFound, ValidationError
from skybridge.core.observability import METRICS

from .conftest import rag_context


def test_citations_point_at_the_chunks_the_answer_used(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    ingest(rag, str(write_docs()))
    result = ask(rag, "How quickly must a page be acknowledged?")
    answer = result.answer
    assert "10 minutes" in answer.text
    assert answer.grounded
    retrieved = {h.chunk: h for h in result.retrieval.hits}
    for citation in answer.citations:
        hit = retrieved[citation.chunk]  # every citation is one of the chunks handed over
        assert citation.document == hit.document == "oncall.md"
        assert citation.source == hit.source
        assert f"[{citation.n}]" in answer.text
    by_number = {c.n: " ".join(retrieved[c.chunk].text.split()) for c in answer.citations}
    pieces = re.findall(r"\s*(.+?) \[(\d+)\]", answer.text)
    assert pieces
    for sentence, n in pieces:
        assert sentence in by_number[int(n)], f"{sentence!r} is not in passage [{n}]"


@pytest.mark.parametrize("mode", ["dense", "hybrid"])
def test_a_question_the_documents_do_not_cover_gets_no_made_up_answer(
    rag: Rag, write_docs: Callable[..., Path], mode: str
) -> None:
    ingest(rag, str(write_docs()))
    for nonsense in ("qwzx plorf 12345", "What is the capital of France?"):
        result = ask(rag, nonsense, mode=mode)  # type: ignore[arg-type]
        assert result.retrieval.hits  # the search still returns its nearest chunks
        assert max(h.dense or 0.0 for h in result.retrieval.hits) < 0.2
        assert result.answer.text == NOTHING_FOUND
        assert result.answer.citations == []
    answered = ask(rag, "How quickly must a page be acknowledged?", mode=mode)  # type: ignore[arg-type]
    assert "10 minutes" in answered.answer.text


def test_relevance_is_a_shared_word_or_a_similar_embedding() -> None:
    def hit(dense: float | None, bm25: float | None) -> Hit:
        return Hit("c", "d", "t", 1.0, dense=dense, bm25=bm25)

    assert not any_relevant([hit(0.1, None), hit(0.05, 0.0)], 0.2)
    assert any_relevant([hit(0.1, None), hit(None, 1.3)], 0.2)  # BM25 found a shared word
    assert any_relevant([hit(0.25, None)], 0.2)
    assert any_relevant([hit(None, None)], 0.2)  # a knowledge base's own ranking
    assert any_relevant([hit(0.0, None)], 0.0)  # the check turned off
    assert not any_relevant([], 0.0)


@pytest.mark.parametrize("mode", ["bm25", "dense", "hybrid"])
def test_each_mode_finds_the_document(rag: Rag, write_docs: Callable[..., Path], mode: str) -> None:
    ingest(rag, str(write_docs()))
    hits = query(rag, "restore drill on the first Tuesday", mode=mode, k=3, record=False).hits  # type: ignore[arg-type]
    assert hits[0].document == "backups.md"
    if mode == "hybrid":
        assert hits[0].dense is not None
        assert hits[0].bm25 is not None


def test_filters_apply_to_every_mode(rag: Rag, write_docs: Callable[..., Path]) -> None:
    ingest(rag, str(write_docs()))
    for mode in ("bm25", "dense", "hybrid"):
        hits = query(
            rag,
            "engineering manager",
            mode=mode,
            k=10,
            filters={"doc_id": {"in": ["guide.html"]}},  # type: ignore[arg-type]
            record=False,
        ).hits
        assert {h.document for h in hits} == {"guide.html"}


def test_a_bm25_query_does_not_load_the_embedding_model(
    rag: Rag, write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(rag, str(write_docs()))
    with open_rag(rag_context()) as fresh:  # as a new CLI command opens it
        monkeypatch.setattr(type(fresh.embedder), "embed", _no_model)
        hits = query(fresh, "restore drill on the first Tuesday", mode="bm25", k=3).hits
        assert hits[0].document == "backups.md"
        with pytest.raises(AssertionError, match="model loaded"):
            query(fresh, "restore drill", mode="hybrid")


def _no_model(*_: object, **__: object) -> None:
    raise AssertionError("the embedding model loaded")


def test_nothing_indexed_and_bad_questions(rag: Rag) -> None:
    with pytest.raises(NotFound, match="nothing is indexed"):
        query(rag, "anything")
    with pytest.raises(ValidationError):
        query(rag, "   ")
    with pytest.raises(ValidationError):
        query(rag, "x", k=0)


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"mode": "fuzzy"}, r"mode 'fuzzy' is not one of bm25, dense, hybrid"),
        ({"mode": ""}, r"mode '' is not one of"),
        ({"mode": "HYBRID"}, r"mode 'HYBRID' is not one of"),
        ({"k": 2.5}, r"k must be a whole number, got float 2\.5"),
        ({"k": True}, r"k must be a whole number, got bool True"),
        ({"k": "3"}, r"k must be a whole number, got str '3'"),
        ({"k": 101}, r"k must be between 1 and 100, got 101"),
    ],
)
@pytest.mark.parametrize("call", [query, ask])
def test_a_bad_mode_or_k_is_refused_before_any_work(
    rag: Rag,
    write_docs: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    call: Callable[..., object],
    given: dict[str, object],
    message: str,
) -> None:
    ingest(rag, str(write_docs()))
    monkeypatch.setattr(type(rag.embedder), "embed", _no_model)
    monkeypatch.setattr(rag, "retriever", _no_search)
    labels = {"collection": rag.collection, "mode": str(given.get("mode", rag.config.mode))}
    before = METRICS.get_sample_value("skybridge_rag_retrieval_seconds_count", labels)
    with pytest.raises(ValidationError, match=message):
        call(rag, "restore drill", record=True, **given)
    assert METRICS.get_sample_value("skybridge_rag_retrieval_seconds_count", labels) == before


def _no_search() -> None:
    raise AssertionError("searched")


def test_a_whole_number_k_of_another_int_type_is_taken(
    rag: Rag, write_docs: Callable[..., Path]
) -> None:
    ingest(rag, str(write_docs()))
    found = query(rag, "restore drill", k=np.int64(2), mode="dense", record=False)  # type: ignore[arg-type]
    assert len(found.hits) == 2


def test_a_falling_rolling_score_alerts_once(
    rag: Rag,
    write_docs: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest(rag, str(write_docs()))
    monkeypatch.setattr(rag.config, "rolling_window", 3)
    rag.kv.put_json(baseline_key(rag.collection), {"modes": {}, "similarity": 0.99})
    for question in ("zebra quantum", "purple elephants", "orbital mechanics", "jazz chords"):
        query(rag, question)
    alerts = [
        json.loads(line)
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("{") and "rolling retrieval score" in line
    ]
    assert len(alerts) == 1
    assert float(alerts[0]["fields"]["baseline"]) == 0.99

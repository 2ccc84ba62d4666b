"""Evaluation: metric definitions, BEIR folders, baselines and regressions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from skybridge.apps.rag.datasets import load_query_set
from skybridge.apps.rag.evaluation import evaluate, mrr_at, ndcg_at, recall_at
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.monitoring import baseline_key
from skybridge.apps.rag.service import Rag
from skybridge.core.errors import ValidationError
from skybridge.core.observability import METRICS

CORPUS = {
    "d1": ("Paging", "Every page must be acknowledged within ten minutes by the primary."),
    "d2": ("Backups", "Nightly base backups are kept for thirty five days."),
    "d3": ("Access", "Production access expires after twelve hours."),
    "d4": ("Restore", "Restore drills run on the first Tuesday of each month."),
}
QUERIES = {
    "q1": "how fast to acknowledge a page",
    "q2": "backup retention days",
    "q3": "when do restore drills happen",
    "q9": "unjudged query",
}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d4", 2), ("q3", "d2", 0)]


def beir(folder: Path, *, corpus: bool = True, qrels_name: str = "test.tsv") -> Path:
    (folder / "qrels").mkdir(parents=True)
    if corpus:
        (folder / "corpus.jsonl").write_text(
            "\n".join(json.dumps({"_id": k, "title": t, "text": x}) for k, (t, x) in CORPUS.items())
        )
    (folder / "queries.jsonl").write_text(
        "\n".join(json.dumps({"_id": k, "text": v}) for k, v in QUERIES.items())
    )
    lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in QRELS]
    (folder / "qrels" / qrels_name).write_text("\n".join(lines))
    return folder


def test_metric_values() -> None:
    relevant = {"a": 1, "b": 1}
    assert ndcg_at(["a", "b", "x"], relevant) == pytest.approx(1.0)
    assert ndcg_at(["x", "a"], {"a": 1}) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert recall_at(["x", "a"], relevant, 10) == 0.5
    assert mrr_at(["x", "y", "b"], relevant) == pytest.approx(1 / 3)
    assert mrr_at(["x"] * 10 + ["a"], relevant) == 0.0


@given(
    ranked=st.permutations(list("abcdefghij")),
    rels=st.dictionaries(st.sampled_from("abcdefghijxyz"), st.integers(0, 3), min_size=1),
)
def test_metrics_stay_in_range_and_ideal_is_one(ranked: list[str], rels: dict[str, int]) -> None:
    for value in (ndcg_at(ranked, rels), recall_at(ranked, rels, 10), mrr_at(ranked, rels)):
        assert 0.0 <= value <= 1.0 + 1e-9
    ideal = sorted((d for d, g in rels.items() if g > 0), key=lambda d: -rels[d])
    if ideal:
        assert ndcg_at(ideal, rels) == pytest.approx(1.0)


def test_qrels_choice_and_bad_folders(tmp_path: Path) -> None:
    found = load_query_set(beir(tmp_path / "a", qrels_name="train.tsv"))
    assert found.qrels_file == "train.tsv"
    assert found.judged == ["q1", "q2", "q3"]
    folder = beir(tmp_path / "b")
    (folder / "qrels" / "dev.tsv").write_text("q1\td1\t1")
    assert load_query_set(folder).qrels_file == "test.tsv"
    (folder / "qrels" / "test.tsv").unlink()
    assert load_query_set(folder).qrels_file == "dev.tsv"
    (folder / "qrels" / "train.tsv").write_text("q1\td1\t1")
    with pytest.raises(ValidationError, match="which qrels"):
        load_query_set(folder)
    with pytest.raises(ValidationError, match=r"queries\.jsonl"):
        load_query_set(tmp_path)


def test_eval_on_a_beir_folder_stores_a_baseline_then_flags_regressions(
    rag: Rag, tmp_path: Path
) -> None:
    dataset = load_query_set(beir(tmp_path / "tiny"))
    first = evaluate(rag, dataset)
    assert first.collection == "eval_tiny"
    assert set(first.modes) == {"bm25", "dense", "hybrid"}
    for scores in first.modes.values():
        assert set(scores) == {"ndcg@10", "recall@10", "recall@100", "mrr@10"}
        assert scores["recall@100"] == 1.0
        assert scores["ndcg@10"] > 0.7
    assert first.baseline is None
    per_query = METRICS.get_sample_value(
        "skybridge_rag_eval_query_ndcg_count", {"collection": "eval_tiny", "mode": "hybrid"}
    )
    assert per_query is not None
    assert per_query >= 3
    stored = rag.kv.get_json(baseline_key("eval_tiny"))
    assert stored["modes"] == first.modes
    raised = {m: {**s, "ndcg@10": 1.5} for m, s in first.modes.items()}
    rag.kv.put_json(baseline_key("eval_tiny"), {**stored, "modes": raised})
    second = evaluate(rag, dataset, modes=("dense",))
    assert [r["mode"] for r in second.regressions] == ["dense"]
    assert rag.vectors.count("eval_tiny") == 4  # the corpus was not indexed twice


def test_eval_of_a_teams_own_questions_uses_the_indexed_documents(
    rag: Rag, write_docs: Callable[..., Path], tmp_path: Path
) -> None:
    ingest(rag, str(write_docs()))
    folder = tmp_path / "own"
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "1", "text": "restore drill"}))
    (folder / "qrels" / "mine.tsv").write_text("1\tbackups.md\t1\n")
    report = evaluate(rag, load_query_set(folder), modes=("hybrid",))
    assert report.collection == rag.collection
    assert report.modes["hybrid"]["mrr@10"] == 1.0


def test_eval_refuses_an_unknown_mode_before_indexing(rag: Rag, tmp_path: Path) -> None:
    dataset = load_query_set(beir(tmp_path / "tiny"))
    with pytest.raises(ValidationError, match="mode 'fuzzy' is not one of bm25, dense, hybrid"):
        evaluate(rag, dataset, modes=("dense", "fuzzy"))  # type: ignore[arg-type]
    assert rag.vectors.describe("eval_tiny") is None

"""``skybridge rag``: JSON output, exit codes 0/1/2, progress on long work."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from skybridge.cli import build_cli


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_cli(), ["rag", *args])
    return result.exit_code, result.stdout, result.stderr


def test_ingest_query_ask_status_list(write_docs: Callable[..., Path]) -> None:
    folder = write_docs()
    code, out, _ = run("ingest", str(folder), "--meta", "team=ops", "--json")
    assert code == 0
    assert sorted(json.loads(out)["added"]) == ["backups.md", "faq.txt", "guide.html", "oncall.md"]
    code, out, _ = run(
        "query", "restore drill", "--k", "2", "--json", "--filter", '{"team": "ops"}'
    )
    assert code == 0
    chunks = json.loads(out)["chunks"]
    assert chunks[0]["document"] == "backups.md"
    assert chunks[0]["metadata"] == {"team": "ops", "modified": chunks[0]["metadata"]["modified"]}
    code, out, _ = run("ask", "Who approves production access?", "--json")
    assert code == 0
    answer = json.loads(out)
    assert answer["citations"][0]["document"] == "guide.html"
    assert "engineering manager" in answer["text"]
    code, out, _ = run("ask", "Who approves production access?")
    assert code == 0
    assert "[1] guide.html" in out
    code, out, _ = run("status", "--json")
    assert json.loads(out)["documents"] == 4
    code, out, _ = run("list", "--json")
    assert len(json.loads(out)) == 4


def test_bad_input_exits_2_with_a_message(write_docs: Callable[..., Path]) -> None:
    code, _, err = run("ingest", "/no/such/place")
    assert code == 2
    assert "no file or folder" in err
    run("ingest", str(write_docs()))
    for args, said in (
        (["query", "x", "--filter", "{oops"], "not JSON"),
        (["query", "x", "--filter", '{"a": {"like": 1}}'], "operator"),
        (["query", "  "], "empty"),
        (["query", "x", "-k", "101"], "between 1 and 100"),
        (["ask", "x", "-k", "0"], "between 1 and 100"),
        (["ingest", str(write_docs()), "--meta", "novalue"], "KEY=VALUE"),
    ):
        code, _, err = run(*args)
        assert code == 2, args
        assert said in err
        assert "Traceback" not in err


def test_nothing_indexed_exits_2(workdir: Path) -> None:
    code, _, err = run("query", "anything")
    assert code == 2
    assert "skybridge rag ingest" in err


def test_a_chunk_size_over_the_window_exits_2(
    write_docs: Callable[..., Path], monkeypatch: object
) -> None:
    import os

    os.environ["SKYBRIDGE__RAG__CHUNK_TOKENS"] = "300"
    try:
        code, _, err = run("ingest", str(write_docs()))
    finally:
        os.environ["SKYBRIDGE__RAG__CHUNK_TOKENS"] = "48"
    assert code == 2
    assert "rag.chunk_tokens" in err


def test_eval_exits_1_on_a_regression(workdir: Path, tmp_path: Path) -> None:
    from .test_eval import beir

    folder = beir(tmp_path / "tiny")
    code, out, _ = run("eval", "--dataset", str(folder), "--mode", "bm25", "--json")
    assert code == 0
    assert json.loads(out)["bm25"]["ndcg@10"] > 0.5
    baseline = {"modes": {"bm25": {"ndcg@10": 2.0}}, "similarity": None}
    from skybridge.backends import kv

    with kv.connect(f"sqlite:///{workdir}/.skybridge/kv.db") as store:
        store.put_json("rag/eval_tiny/baseline", baseline)
    code, out, _ = run("eval", "--dataset", str(folder), "--mode", "bm25")
    assert code == 1
    assert "regression" in out


def test_links_out_of_the_folder_are_listed_as_skipped(
    write_docs: Callable[..., Path], workdir: Path
) -> None:
    folder = write_docs()
    (workdir / "vault.md").write_text("# Vault\n\nThe root password is tangerine.")
    (folder / "notes.md").symlink_to(workdir / "vault.md")
    code, out, _ = run("ingest", str(folder), "--json")
    assert code == 0
    report = json.loads(out)
    assert sorted(report["added"]) == ["backups.md", "faq.txt", "guide.html", "oncall.md"]
    assert report["skipped"] == [{"document": "notes.md", "reason": "outside the allowed sources"}]
    code, out, _ = run("ingest", str(folder))
    assert code == 0
    assert "skipped notes.md: outside the allowed sources" in out

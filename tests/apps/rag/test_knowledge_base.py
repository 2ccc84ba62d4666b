"""rag on a managed knowledge base (``backends.retrieval = "bedrock-kb://..."``): questions are
answered from its passages with citations, filters and the search mode go to the service, and
rag's own ingestion is refused (the knowledge base syncs its documents itself).

The knowledge base is :class:`~skybridge.testing.bedrock_kb.KnowledgeBaseServer`, a local
endpoint with Bedrock's documented ``Retrieve`` shapes, called through signed boto3 requests.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skybridge.apps.rag.answers import ask, query
from skybridge.apps.rag.ingest import ingest
from skybridge.apps.rag.service import open_rag
from skybridge.apps.rag.status import status
from skybridge.cli import build_cli
from skybridge.core.errors import ConfigError, ValidationError
from skybridge.testing.bedrock_kb import KnowledgeBaseServer, StoredPassage

from .conftest import rag_context

KB = "KBRAG00001"
PASSAGES = [
    StoredPassage(
        "chunk-oncall",
        "Every page must be acknowledged within 10 minutes. The secondary takes over after that.",
        "s3://kb-docs/runbooks/oncall.md",
        {"team": "ops", "year": 2025},
    ),
    StoredPassage(
        "chunk-backups",
        "Base backups are kept for 35 days. A page about a failed backup goes to the DBA.",
        "s3://kb-docs/runbooks/backups.md",
        {"team": "dba", "year": 2024},
    ),
    StoredPassage(
        "chunk-access",
        "Production access is approved by the engineering manager and expires after 12 hours.",
        "s3://kb-docs/policies/access.md",
        {"team": "security", "year": 2025, "title": "Production access"},
    ),
]


@pytest.fixture
def kb_server(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeBaseServer]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with KnowledgeBaseServer({KB: PASSAGES}) as server:
        url = f"bedrock-kb://{KB}?region=us-east-1&endpoint_url={server.url}"
        monkeypatch.setenv("SKYBRIDGE__BACKENDS__RETRIEVAL", url)
        yield server


def _sent(server: KnowledgeBaseServer) -> dict[str, object]:
    body = server.requests[-1]["body"]
    assert isinstance(body, dict)
    return body


def test_answers_cite_the_knowledge_bases_passages(kb_server: KnowledgeBaseServer) -> None:
    with open_rag(rag_context()) as rag:
        result = ask(rag, "How quickly must a page be acknowledged?")
        assert rag._embedder is None  # the service embeds: no local model, no local index
    assert "10 minutes" in result.answer.text
    first = result.answer.citations[0]
    assert (first.chunk, first.document) == ("chunk-oncall", "s3://kb-docs/runbooks/oncall.md")
    assert (first.source, first.title) == ("s3://kb-docs/runbooks/oncall.md", "oncall.md")
    assert result.retrieval.mode == "hybrid"
    assert result.retrieval.hits[0].chunk == "chunk-oncall"
    assert _sent(kb_server)["retrievalConfiguration"] == {
        "vectorSearchConfiguration": {"numberOfResults": 5, "overrideSearchType": "HYBRID"}
    }


def test_filters_k_and_the_dense_mode_go_to_the_service(kb_server: KnowledgeBaseServer) -> None:
    with open_rag(rag_context()) as rag:
        found = query(rag, "page", k=2, mode="dense", filters={"team": {"in": ["dba", "ops"]}})
    assert {h.chunk for h in found.hits} == {"chunk-oncall", "chunk-backups"}
    assert all(h.metadata["team"] in ("dba", "ops") for h in found.hits)
    search = _sent(kb_server)["retrievalConfiguration"]["vectorSearchConfiguration"]  # type: ignore[index]
    assert search["numberOfResults"] == 2
    assert search["overrideSearchType"] == "SEMANTIC"
    assert search["filter"] == {"in": {"key": "team", "value": ["dba", "ops"]}}


def test_titles_come_from_the_metadata_when_it_has_one(kb_server: KnowledgeBaseServer) -> None:
    with open_rag(rag_context()) as rag:
        hits = query(rag, "Who approves production access?", k=1).hits
    assert hits[0].title == "Production access"
    assert hits[0].metadata["year"] == 2025


def test_bm25_mode_is_refused_before_any_call(kb_server: KnowledgeBaseServer) -> None:
    with open_rag(rag_context()) as rag, pytest.raises(ValidationError) as refused:
        query(rag, "page", mode="bm25")
    assert "hybrid or dense" in refused.value.message
    assert kb_server.requests == []


def test_ingest_is_refused_and_writes_nothing(
    kb_server: KnowledgeBaseServer, write_docs: Callable[..., Path]
) -> None:
    folder = write_docs()
    with open_rag(rag_context()) as rag:
        with pytest.raises(ConfigError) as refused:
            ingest(rag, str(folder))
        assert refused.value.setting == "backends.retrieval"
        assert "data source" in str(refused.value.hint)
        assert rag.describe() is None
        assert rag.documents.entries() == []


def test_the_cli_answers_from_it_and_status_names_it(kb_server: KnowledgeBaseServer) -> None:
    runner = CliRunner()
    asked = runner.invoke(build_cli(), ["rag", "ask", "How long are backups kept?", "--json"])
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert "35 days" in answer["text"]
    assert answer["citations"][0]["document"] == "s3://kb-docs/runbooks/backups.md"
    with open_rag(rag_context()) as rag:
        shown = status(rag)
    assert shown["knowledge_base"].startswith(f"bedrock-kb://{KB}")
    refused = runner.invoke(build_cli(), ["rag", "ingest", "docs"])
    assert refused.exit_code == 2
    assert "backends.retrieval" in refused.output

"""``/api/rag``: scopes, bad input as JSON 4xx, local sources only inside the allowed roots."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.testing.service import ServiceHarness, service_harness


@pytest.fixture
def service(
    write_docs: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServiceHarness]:
    folder = write_docs()
    monkeypatch.setenv("SKYBRIDGE__RAG__HTTP_INGEST_SOURCES", f'["{folder}"]')
    with service_harness([find_app(discover_apps(), "rag")]) as harness:
        yield harness


def test_ingest_query_ask_over_http(
    service: ServiceHarness, write_docs: Callable[..., Path]
) -> None:
    folder = write_docs()
    ingested = service.client.post(
        "/api/rag/ingest",
        headers=service.auth,
        json={"source": str(folder), "metadata": {"team": "ops"}},
    )
    assert ingested.status_code == 200, ingested.text
    assert len(ingested.json()["added"]) == 4
    found = service.client.post(
        "/api/rag/query",
        headers=service.auth,
        json={"query": "restore drill", "k": 2, "mode": "bm25"},
    )
    assert found.json()["chunks"][0]["document"] == "backups.md"
    answer = service.client.post(
        "/api/rag/ask", headers=service.auth, json={"question": "How long are base backups kept?"}
    ).json()
    assert "35 days" in answer["text"]
    assert answer["citations"][0]["chunk"] in {c["chunk"] for c in answer["chunks"]}
    assert service.client.get("/api/rag/status", headers=service.auth).json()["documents"] == 4


def test_sources_the_list_does_not_allow_are_refused(service: ServiceHarness) -> None:
    for source in (
        "/etc",
        "s3://any-bucket/x",
        "s3://docs/?endpoint_url=http://169.254.169.254",
        "oci://kb@ns/",
        "~nosuchuser/docs",  # not expanded: the client's home is not the service's
        "~/docs",
    ):
        response = service.client.post(
            "/api/rag/ingest", headers=service.auth, json={"source": source}
        )
        assert response.status_code == 403, source
        assert "http_ingest_sources" in response.json()["hint"]
    for source in ("a\x00b", "docs\nx"):
        response = service.client.post(
            "/api/rag/ingest", headers=service.auth, json={"source": source}
        )
        assert response.status_code == 422, source
        assert "control character" in response.json()["message"]


def test_bad_input_is_a_json_4xx(service: ServiceHarness) -> None:
    bad = service.client.post(
        "/api/rag/query", headers=service.auth, json={"query": "x", "filter": {"a": {"like": 1}}}
    )
    assert bad.status_code == 422
    assert "operator" in bad.json()["message"]
    empty = service.client.post("/api/rag/ask", headers=service.auth, json={"question": ""})
    assert empty.status_code == 422
    nothing = service.client.post("/api/rag/query", headers=service.auth, json={"query": "x"})
    assert nothing.status_code == 404


def test_a_read_token_cannot_ingest(
    service: ServiceHarness, write_docs: Callable[..., Path]
) -> None:
    reader = {"Authorization": f"Bearer {service.new_token('r', scopes=['read'])}"}
    response = service.client.post(
        "/api/rag/ingest", headers=reader, json={"source": str(write_docs())}
    )
    assert response.status_code == 403
    assert "rag:ingest" in response.json()["message"]


def test_the_page_draws_answers_and_documents_with_the_kit_tables(
    service: ServiceHarness, write_docs: Callable[..., Path]
) -> None:
    csrf = service.login()
    empty = service.client.get("/ui/rag").text
    assert '<table class="table documents">' in empty
    assert "Nothing indexed yet" in empty
    service.client.post(
        "/api/rag/ingest", headers=service.auth, json={"source": str(write_docs())}
    ).raise_for_status()
    page = service.client.post(
        "/ui/rag",
        data={"csrf": csrf, "action": "ask", "question": "How long are backups kept?"},
    )
    assert page.status_code == 200, page.text
    html = page.text
    for name in ("citations", "chunks", "documents"):
        assert f'<table class="table {name}">' in html
    citations = html.split('<table class="table citations">')[1].split("</table>")[0]
    assert "<td>[1]</td>" in citations
    assert "<td>backups.md</td>" in citations
    documents = html.split('<table class="table documents">')[1].split("</table>")[0]
    assert documents.count("<tr>") == 5  # the heading and four documents
    assert "<script>" not in html.split('<table class="table chunks">')[1].split("</table>")[0]

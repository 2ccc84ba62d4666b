"""``/api/rag``: scopes, bad input as JSON 4xx, local sources only inside the allowed roots
(links in them included), never the service's data folder."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.rag.config import MAX_K
from skybridge.apps.rag.sources import SERVICE_DATA
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
    for route, field in (("/api/rag/query", "query"), ("/api/rag/ask", "question")):
        for extra in ({"mode": "fuzzy"}, {"k": MAX_K + 1}, {"k": 2.5}, {"k": True}):
            refused = service.client.post(route, headers=service.auth, json={field: "x", **extra})
            assert refused.status_code == 422, (route, extra)


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
    forged = service.client.post(
        "/ui/rag",
        data={"csrf": csrf, "action": "ask", "question": "Backups?", "mode": "fuzzy"},
    )
    assert forged.status_code == 200
    assert "unknown mode &#39;fuzzy&#39;; choose bm25, dense, hybrid" in forged.text
    assert '<table class="table citations">' not in forged.text


# Links in an allowed folder: followed only into the allowed folders, never into data_dir.

SECRET = "# Vault\n\nThe root password is tangerine-falcon-forty-two.\n"
FOUR = ["backups.md", "faq.txt", "guide.html", "oncall.md"]


def _ingest(service: ServiceHarness, source: str) -> dict[str, Any]:
    response = service.client.post("/api/rag/ingest", headers=service.auth, json={"source": source})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _texts(service: ServiceHarness, text: str) -> str:
    """Every chunk a read token gets for ``text``, as one string."""
    token = service.new_token(f"reader-{secrets.token_hex(4)}", scopes=["read"])
    reader = {"Authorization": f"Bearer {token}"}
    found = service.client.post(
        "/api/rag/query", headers=reader, json={"query": text, "k": 50, "mode": "bm25"}
    )
    assert found.status_code == 200, found.text
    return " ".join(c["text"] for c in found.json()["chunks"])


def test_a_link_to_a_secret_outside_the_allowed_folder_is_skipped(
    service: ServiceHarness, workdir: Path
) -> None:
    docs = workdir / "docs"
    session_secret = workdir / ".skybridge" / "session_secret"
    assert session_secret.is_file()
    (workdir / "vault.md").write_text(SECRET)
    (docs / "notes.md").symlink_to(workdir / "vault.md")
    (docs / "session.txt").symlink_to(session_secret)
    body = _ingest(service, str(docs))
    assert sorted(body["added"]) == FOUR
    assert {"document": "notes.md", "reason": "outside the allowed sources"} in body["skipped"]
    assert {"document": "session.txt", "reason": SERVICE_DATA} in body["skipped"]
    assert "tangerine" not in _texts(service, "root password tangerine falcon")
    secret = session_secret.read_text().strip()
    assert secret not in _texts(service, secret)
    documents = service.client.get("/api/rag/documents", headers=service.auth).json()
    assert sorted(d["document"] for d in documents) == FOUR
    # Naming the link itself is refused before anything is read.
    for link in ("notes.md", "session.txt"):
        named = service.client.post(
            "/api/rag/ingest", headers=service.auth, json={"source": str(docs / link)}
        )
        assert named.status_code == 403, link


def test_a_linked_folder_outside_the_allowed_folder_is_not_followed(
    service: ServiceHarness, workdir: Path
) -> None:
    docs = workdir / "docs"
    (workdir / "private").mkdir()
    (workdir / "private" / "vault.md").write_text(SECRET)
    (docs / "archive").symlink_to(workdir / "private", target_is_directory=True)
    (docs / "everything").symlink_to(Path("/"), target_is_directory=True)
    body = _ingest(service, str(docs))
    assert sorted(body["added"]) == FOUR
    assert {"document": "archive/", "reason": "outside the allowed sources"} in body["skipped"]
    assert {"document": "everything/", "reason": "outside the allowed sources"} in body["skipped"]
    assert "tangerine" not in _texts(service, "root password tangerine falcon")


def test_the_data_folder_is_refused_even_when_its_parent_is_allowed(
    write_docs: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_docs()
    monkeypatch.setenv("SKYBRIDGE__RAG__HTTP_INGEST_SOURCES", f'["{workdir}"]')
    with service_harness([find_app(discover_apps(), "rag")]) as service:
        data = (workdir / service.settings.data_dir).resolve()
        assert data == (workdir / ".skybridge").resolve()
        assert (data / "session_secret").is_file()
        (data / "notes.md").write_text(SECRET)
        (docs / "session.txt").symlink_to(data / "session_secret")
        (docs / "notes.md").symlink_to(data / "notes.md")
        (docs / "state").symlink_to(data, target_is_directory=True)
        body = _ingest(service, str(docs))
        assert sorted(body["added"]) == FOUR
        skipped = {s["document"]: s["reason"] for s in body["skipped"]}
        assert skipped == {
            "notes.md": SERVICE_DATA,
            "session.txt": SERVICE_DATA,
            "state/": SERVICE_DATA,
        }
        whole = _ingest(service, str(workdir))  # the project folder: .skybridge is hidden
        assert sorted(whole["added"]) == sorted(f"docs/{d}" for d in FOUR)
        assert not any(d.startswith(".skybridge") for d in whole["added"])
        assert "tangerine" not in _texts(service, "root password tangerine falcon")
        for source in (
            str(data),
            ".skybridge",
            f"{docs}/../.skybridge",
            str(data / "notes.md"),
            f"file://{data}",
            f"FILE://{data}",
            str(docs / "state"),
        ):
            response = service.client.post(
                "/api/rag/ingest", headers=service.auth, json={"source": source}
            )
            assert response.status_code == 403, source
            assert "data folder" in response.json()["message"], source


def test_files_and_links_inside_the_allowed_folders_are_ingested(
    write_docs: Callable[..., Path], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_docs()
    shared = write_docs({"policy.md": "# Policy\n\nLaptops are encrypted at rest."}, "shared")
    (docs / "runbooks").mkdir()
    (docs / "runbooks" / "restore.md").write_text("# Restore\n\nRestores start from the vault.")
    (docs / "restore.md").symlink_to(docs / "runbooks" / "restore.md")
    (docs / "shared").symlink_to(shared, target_is_directory=True)
    # A file:// entry in the list is a local folder too.
    monkeypatch.setenv("SKYBRIDGE__RAG__HTTP_INGEST_SOURCES", f'["{docs}", "file://{shared}"]')
    with service_harness([find_app(discover_apps(), "rag")]) as service:
        body = _ingest(service, f"file://{docs}")
        assert sorted(body["added"]) == sorted(
            [*FOUR, "restore.md", "runbooks/restore.md", "shared/policy.md"]
        )
        assert body["skipped"] == []
        assert "encrypted at rest" in _texts(service, "laptops encrypted")


def test_file_urls_in_any_case_are_checked_as_local_paths(service: ServiceHarness) -> None:
    for source in ("FILE:///etc", "File:///etc/passwd", "file:///etc", "FILE://~/.ssh"):
        response = service.client.post(
            "/api/rag/ingest", headers=service.auth, json={"source": source}
        )
        assert response.status_code == 403, source


def test_a_url_prefix_allows_what_is_below_it_not_a_longer_name(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from skybridge.apps.rag.router import check_http_source
    from skybridge.core.errors import PermissionDenied

    config = SimpleNamespace(http_ingest_sources=["s3://docs", "oci://kb@ns/handbook/"])
    ctx: Any = SimpleNamespace(config=config, data_dir=tmp_path / ".skybridge")
    for allowed in ("s3://docs", "s3://docs/team", "oci://kb@ns/handbook/ops"):
        assert check_http_source(ctx, allowed) == allowed
    for refused in ("s3://docs-private", "s3://docsx/a", "oci://kb@ns/handbook-old/x"):
        with pytest.raises(PermissionDenied):
            check_http_source(ctx, refused)

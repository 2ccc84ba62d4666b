"""Fixtures for the rag app: a fresh work dir, small chunks, the packaged model (loaded once)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import discover_apps, find_app
from skybridge.apps.kit.settings import load_settings
from skybridge.apps.rag.service import Rag, open_rag

DOCS = {
    "oncall.md": "# On-call\n\n## Paging\n\nEvery page must be acknowledged within 10 minutes. "
    "The secondary takes over after that.\n\n## Escalation\n\nEscalate to the engineering "
    "manager when an incident is not mitigated within 30 minutes.\n",
    "backups.md": "# Backups\n\nDatabases are backed up every night at 02:00 UTC. Base backups "
    "are kept for 35 days. A restore drill runs on the first Tuesday of every month.\n",
    "guide.html": "<html><head><title>Guide</title></head><body><h1>Guide</h1><p>Production "
    "access is approved by the engineering manager and expires after 12 hours.</p>"
    "<script>secret()</script></body></html>",
    "faq.txt": "Dashboards are linked from the service catalogue. New databases take two days.",
}


@pytest.fixture
def workdir(skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_TOKENS", "48")
    monkeypatch.setenv("SKYBRIDGE__RAG__CHUNK_OVERLAP", "8")
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__NOTIFY", "console://?format=json")
    return skybridge_workdir


@pytest.fixture
def write_docs(workdir: Path) -> Callable[..., Path]:
    def write(docs: dict[str, str] | None = None, folder: str = "docs") -> Path:
        root = workdir / folder
        root.mkdir(exist_ok=True)
        for name, text in (DOCS if docs is None else docs).items():
            (root / name).write_text(text)
        return root

    return write


def rag_context() -> AppContext:  # type: ignore[type-arg]
    spec = find_app(discover_apps(), "rag")
    return AppContext.create(spec, load_settings())


@pytest.fixture
def rag(workdir: Path) -> Iterator[Rag]:
    with open_rag(rag_context()) as engine:
        yield engine


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """These tests load the embedding model (once per process): on a loaded 2-core machine the
    first one can take minutes, so they get more than the suite's default 300 s."""
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).parent == here and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(900))

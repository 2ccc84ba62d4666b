"""The rag page in a real browser: ``skybridge up --demo`` indexes the handbook and answers.

Headless Chromium signs in with the demo token, opens ``/ui/rag``, sees the demo question's
cited answer and the indexed handbook, asks another question through the form (a CSRF-checked
POST) in each retrieval mode, and reads the citations. Screenshots land in tmp_path and in
``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with demo_service(tmp_path) as service:
        yield service
    assert "Traceback" not in (tmp_path / "service.log").read_text()


def test_rag_page_answers_with_citations(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1000) as page:
        login(page, url, token)
        page.click("nav >> text=RAG")
        expect(page).to_have_url(f"{url}ui/rag")
        deadline = time.monotonic() + 600  # the demo service loads the model, then indexes
        # the demo stores its question's answer after the four documents are indexed
        while (
            page.locator("table.documents tbody tr").count() != 4
            or not page.locator(".answer-text").count()
        ):
            assert time.monotonic() < deadline, "the demo handbook was not indexed"
            time.sleep(2.0)
            page.reload()
        expect(page.locator(".answer-text")).to_contain_text("10 minutes")
        expect(page.locator("table.citations tbody tr").first).to_contain_text("oncall-runbook.md")
        # the demo records a baseline from the handbook's bundled questions, then asks one
        for label in ("Baseline nDCG@10", "Rolling similarity"):
            stat = page.locator(".stat", has_text=label).locator(".stat-value")
            expect(stat).to_have_text(re.compile(r"^0\.\d{3}$|^1\.000$"))
        screenshot(page, "rag-01-demo-answer", tmp_path)

        page.fill("#question", "How long are nightly base backups kept?")
        page.select_option("#mode", "hybrid")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator(".answer-text")).to_contain_text("35 days")
        citations = page.locator("table.citations tbody tr")
        expect(citations.first).to_contain_text("backups.md")
        page.locator("details summary").click()
        expect(page.locator("table.chunks tbody tr").first).to_contain_text("backups.md")
        screenshot(page, "rag-02-asked", tmp_path)

        page.fill("#question", "production access approval")
        page.select_option("#mode", "bm25")
        page.get_by_role("button", name="Ask").click()
        expect(page.locator("table.citations tbody tr").first).to_contain_text("faq.txt")
        expect(page.locator("#mode")).to_have_value("bm25")

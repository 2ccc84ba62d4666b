"""The datasync page in a real browser: ``skybridge up --demo`` applies live changes.

Headless Chromium signs in with the demo token, opens ``/ui/datasync``, sees the demo orders
applied by the apply pipeline (one stale version skipped, one bad event dead-lettered, the
demo batch merged), watches the demo producer's changes raise the newest version, runs the
demo batch sync for the current window (a CSRF-protected POST) and replays the dead
letter. Screenshots land in tmp_path and in ``test-artifacts/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``skybridge up --demo`` publishing a demo change every second: (base URL, token)."""
    with demo_service(
        tmp_path, env={"SKYBRIDGE__DATASYNC__DEMO_EVERY": "1"}, stop_timeout=20
    ) as service:
        yield service
    output = (tmp_path / "service.log").read_text()
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def test_datasync_page_shows_live_sync_batches_and_dead_letters(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1000) as page:
        login(page, url, token)
        page.click("nav >> text=Data sync")
        expect(page).to_have_url(f"{url}ui/datasync")
        orders = page.locator("tr[data-table=orders]")
        deadline = time.monotonic() + 40
        # 11 streamed orders (one deleted) + 10 from the demo batch export
        while orders.locator(".rows").inner_text() != "21":
            assert time.monotonic() < deadline, orders.inner_text()
            time.sleep(1.0)
            page.reload()
        expect(page.locator("table.batches tbody tr").first.locator(".state")).to_have_text("done")
        expect(page.locator(".stat", has_text="Dead letters").locator(".stat-value")).to_have_text(
            "1"
        )
        first_version = int(orders.locator(".version").inner_text())
        expect(orders.locator(".p95")).not_to_have_text("—")
        screenshot(page, "datasync-01-live", tmp_path)

        deadline = time.monotonic() + 30
        while int(orders.locator(".version").inner_text()) <= first_version:
            assert time.monotonic() < deadline, "no live change reached the page"
            time.sleep(1.0)
            page.reload()

        page.get_by_role("button", name="Run orders-export now").click()
        expect(page).to_have_url(f"{url}ui/datasync")
        expect(page.locator("section.sync-result h2")).to_contain_text("Batch orders-export-")
        expect(page.get_by_role("status")).to_contain_text("is done")
        screenshot(page, "datasync-02-batch", tmp_path)

        page.get_by_role("button", name="Replay dead letters").click()
        expect(page.get_by_role("status")).to_contain_text("Replayed 1 dead letter")
        screenshot(page, "datasync-03-replayed", tmp_path)

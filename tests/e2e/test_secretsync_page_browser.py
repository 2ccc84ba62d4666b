"""The secretsync page in a real browser: ``skybridge up --demo`` syncs a local mapping live.

Headless Debian Chromium signs in with the demo token, opens ``/ui/secretsync``, sees the
demo mappings in sync, watches a rotation arrive through the events pipeline, then runs
"Reconcile (dry run)" and "Reconcile now" (CSRF-protected POSTs). Screenshots land in tmp_path
and in ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``skybridge up --demo`` rotating a demo secret every 2 s: (base URL, demo token)."""
    rotate = {"SKYBRIDGE__SECRETSYNC__DEMO_ROTATE_EVERY": "2"}
    with demo_service(tmp_path, env=rotate, stop_timeout=20) as service:
        yield service
    output = (tmp_path / "service.log").read_text()
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def test_secretsync_page_shows_live_sync_and_reconciles(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 900) as page:
        login(page, url, token)
        page.click("nav >> text=Secret sync")
        expect(page).to_have_url(f"{url}ui/secretsync")
        rows = page.locator("table.mappings tbody tr")
        expect(rows).to_have_count(3)
        for name in ("orders-db", "payments-api-key", "webhook-token"):
            expect(page.locator(f"tr[data-name={name}] .drift")).to_have_text("in-sync")
        db = page.locator("tr[data-name=orders-db]")
        expect(db).to_contain_text("demo-source:demo/db-password")

        # Rotations arrive through secretsync.events: the audit log grows with updates.
        deadline = time.monotonic() + 30
        while page.locator("table.audit tbody tr", has_text="event:manual").count() < 2:
            assert time.monotonic() < deadline, "no live sync reached the dashboard"
            time.sleep(1.0)
            page.reload()
        expect(page.locator("table.mappings .lag").first).to_contain_text("s")
        screenshot(page, "secretsync-01-live", tmp_path)

        page.get_by_role("button", name="Reconcile (dry run)").click()
        expect(page).to_have_url(f"{url}ui/secretsync")
        result = page.locator("section.sync-result")
        expect(result.locator("h2")).to_have_text("Reconcile plan (dry run)")
        expect(result.locator("table.plan tbody tr")).to_have_count(3)
        screenshot(page, "secretsync-02-plan", tmp_path)

        page.get_by_role("button", name="Reconcile now").click()
        expect(page.locator("section.sync-result h2")).to_have_text("Reconcile")
        expect(page.get_by_role("status")).to_contain_text(
            re.compile(r"Everything is in sync|Reconciled")
        )
        screenshot(page, "secretsync-03-reconciled", tmp_path)

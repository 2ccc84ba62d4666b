"""The assertions page in a real browser: ``skybridge up --demo`` seeds the SLA example.

Headless Debian Chromium signs in with the demo token, opens ``/ui/assertions``, runs
"Check all now" (a CSRF-protected POST) and opens an assertion's explain details.
Screenshots land in tmp_path and in ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``skybridge up --demo`` in a fresh folder: (base URL, demo token)."""
    with demo_service(tmp_path) as service:
        yield service


def test_assertions_page_lists_checks_and_explains(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 900) as page:
        login(page, url, token)
        page.click("nav >> text=Assertions")
        expect(page).to_have_url(f"{url}ui/assertions")
        rows = page.locator("table.assertions tbody tr")
        expect(rows).to_have_count(3)
        legacy = page.locator("tr[data-name=ticket_requires_active_sla]")
        expect(legacy.locator(".pill-warn")).to_have_text("novalidate")
        expect(legacy.locator(".last-check")).to_contain_text("not checked yet")
        deferred = page.locator("tr[data-name=sla_must_have_services]")
        expect(deferred.locator(".pill-info")).to_have_text("deferred")
        screenshot(page, "assertions-01-list", tmp_path)

        page.get_by_role("button", name="Check all now").click()
        expect(page).to_have_url(f"{url}ui/assertions")
        expect(page.get_by_role("alert")).to_contain_text(
            "1 of 3 checked assertions has violating rows"
        )
        expect(page.locator(".violation-name")).to_have_text(["ticket_requires_active_sla"])
        expect(page.locator("table.violations")).to_contain_text("2025-11-20")
        expect(legacy.locator(".pill-bad")).to_have_text("1 violating")
        holds = page.locator("tr[data-name=critical_tickets_need_senior_engineer]")
        expect(holds.locator(".last-check .pill-ok")).to_have_text("holds")
        screenshot(page, "assertions-02-checked", tmp_path)

        holds.get_by_role("button", name="Check critical_tickets_need_senior_engineer").click()
        expect(page.get_by_role("status")).to_contain_text("1 checked assertion holds")

        # The name in the table links into the closed details: following it opens them.
        section = page.locator("#assertion-critical_tickets_need_senior_engineer")
        expect(section.locator("details").first).not_to_have_attribute("open", "")
        holds.get_by_role("link", name="critical_tickets_need_senior_engineer").click()
        expect(section.locator("details").first).to_have_attribute("open", "")
        explain = page.locator("#explain-critical_tickets_need_senior_engineer")
        expect(explain).to_be_in_viewport()
        guards = explain.locator("table.guards tbody tr")
        expect(guards).to_have_count(4)
        expect(explain).to_contain_text("key:engineers.engineer_id,tickets.assigned_to")
        screenshot(page, "assertions-03-explain", tmp_path)

        section.locator("summary").first.click()  # and its summary closes them again
        expect(section.locator("details").first).not_to_have_attribute("open", "")

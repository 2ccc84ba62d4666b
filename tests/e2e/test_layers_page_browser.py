"""The layers page in a real browser: ``skybridge up --demo`` builds and publishes a small layer
offline, attaches it to two functions and starts a rollout.

Headless Debian Chromium signs in with the demo token, opens ``/ui/layers``, reads the build,
the versions in use and the rollout, plans a prune (nothing is deleted: every old version is in
use), advances the rollout and rolls it back. Screenshots land in tmp_path and
``test-artifacts/``.
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
    with demo_service(tmp_path) as service:
        yield service


def test_layers_page_shows_builds_usage_and_drives_a_rollout(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1000) as page:
        login(page, url, token)
        page.click("nav >> text=Lambda layers")
        expect(page).to_have_url(f"{url}ui/layers")
        builds = page.locator("table.builds tbody tr")
        expect(builds).to_have_count(1)
        expect(builds.first).to_contain_text("demo-deps")
        expect(builds.first).to_contain_text("may ship")
        expect(page.locator("table.usage tbody tr")).to_have_count(2)
        expect(page.locator(".scan-note")).to_contain_text("no advisory database configured")
        expect(page.locator("table.usage")).to_contain_text("demo-invoices:1")
        rollout = page.locator("tr[data-rollout='demo-orders:live']")
        expect(rollout).to_contain_text("rolling")
        expect(rollout).to_contain_text("10%")
        screenshot(page, "layers-01-overview", tmp_path)

        page.get_by_role("button", name="Plan prune of demo-deps").click()
        expect(page.locator("section.layer-result h2")).to_contain_text("Prune plan")
        expect(page.get_by_role("status")).to_contain_text("Nothing to delete")
        screenshot(page, "layers-02-prune-plan", tmp_path)

        rollout.get_by_role("button", name="Advance").click()
        expect(page.get_by_role("status")).to_contain_text("gets 50%")
        page.locator("tr[data-rollout='demo-orders:live']").get_by_role(
            "button", name="Roll back"
        ).click()
        expect(page.locator("#confirm-question")).to_contain_text(
            "Roll back demo-orders:live? All of its traffic goes back to version 1 now"
        )
        screenshot(page, "layers-03-roll-back-confirm", tmp_path)
        page.get_by_role("button", name="Confirm").click()
        expect(page.get_by_role("status")).to_contain_text(
            "Rolled back: version 1 takes all traffic"
        )
        expect(page.locator("tr[data-rollout='demo-orders:live']")).to_contain_text("rolled-back")
        screenshot(page, "layers-04-rolled-back", tmp_path)

    with browser_page(chromium, 390, 844) as phone:
        login(phone, url, token)
        phone.goto(f"{url}ui/layers")
        expect(phone.locator("table.builds")).to_be_visible()
        screenshot(phone, "layers-04-narrow", tmp_path)

"""The recommend page in a real browser: ``skybridge up --demo`` loads the sports catalogue,
streams synthetic events, trains a model and records some feedback.

Headless Chromium signs in with the demo token, opens ``/ui/recommend``, sees the served model,
click-through and coverage, a user's recent events and current recommendations, switches user
through the form (a CSRF-checked POST), and sees a newcomer get popular items. Screenshots land
in tmp_path and in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, login, running_service, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    log = tmp_path / "service.log"
    # every app seeds its demo data before the service listens
    with running_service(tmp_path, log, demo=True, ready_timeout=240) as url:
        yield url, (tmp_path / ".skybridge" / "demo-token").read_text().strip()
    assert "Traceback" not in log.read_text()


def test_recommend_page_shows_events_and_recommendations(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1100) as page:
        login(page, url, token)
        page.click("nav >> text=Recommend")
        expect(page).to_have_url(f"{url}ui/recommend")
        expect(page.locator(".model-version")).to_have_text("v0001")
        expect(page.locator(".click-through")).to_have_text("20.0%")
        expect(page.locator(".coverage")).not_to_have_text("—")
        expect(page.locator("#user")).to_have_value("U01")
        recs = page.locator("table.recommendations tbody tr")
        expect(recs).to_have_count(10)
        expect(page.locator(".strategy")).to_have_text("personal")
        # scores can step up down the list: MMR weighs diversity, and the page says so
        expect(page.locator(".mmr-note")).to_contain_text("mmr_lambda 0.9")
        events = page.locator("table.events tbody tr")
        expect(events.first).to_contain_text("rec_")  # the demo's feedback is the newest
        screenshot(page, "recommend-01-demo-user", tmp_path)

        page.fill("#user", "U08")
        page.get_by_role("button", name="Show").click()
        expect(page).to_have_url(re.compile(r"/ui/recommend\?user=U08$"))  # a link to keep
        expect(page.locator("#recs-title")).to_have_text("Recommendations for U08")
        expect(recs).to_have_count(10)
        seen = set(events.locator("td:nth-child(3)").all_inner_texts())
        shown = set(recs.locator("td:nth-child(2)").all_inner_texts())
        assert seen
        assert not seen & shown, "a recommendation repeats an item the user already had"
        screenshot(page, "recommend-02-other-user", tmp_path)

        page.fill("#user", "newcomer")
        page.get_by_role("button", name="Show").click()
        expect(page.locator(".profile-line")).to_contain_text("Unknown user")
        expect(page.locator(".strategy")).to_have_text("popular")
        expect(recs.first).to_contain_text("popular overall")
        screenshot(page, "recommend-03-newcomer", tmp_path)

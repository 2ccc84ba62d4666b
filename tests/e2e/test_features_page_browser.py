"""The features page in a real browser: ``skybridge up --demo`` folds live demo events into
the online store; headless Chromium signs in, sees the live entities, looks one up (features
with their age and status) and asks the demo model for a prediction (CSRF-protected POSTs); the
offline log's last scheduled compaction shows ``never`` before the job runs and what it merged
after, and a compaction by hand apart, at desktop and phone widths. Screenshots land in tmp_path
and in ``test-artifacts/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot
from skybridge.testing.process import run_cli

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with demo_service(tmp_path, env={"SKYBRIDGE__FEATURES__DEMO_EVERY": "0.5"}) as service:
        yield service
    output = (tmp_path / "service.log").read_text()
    assert "Traceback" not in output


def test_features_page_shows_live_features_and_predicts(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1000) as page:
        login(page, url, token)
        page.click("nav >> text=Features")
        expect(page).to_have_url(f"{url}ui/features")
        expect(page.locator("table.entities tbody tr[data-entity]")).to_have_count(12)
        expect(page.locator("section.view[data-view=realtime_features]")).to_contain_text(
            "count5min"
        )
        screenshot(page, "features-01-overview", tmp_path)

        page.fill("#entity", "user-03")
        page.get_by_role("button", name="Show features").click()
        table = page.locator("table.features")
        expect(table.locator("tr[data-feature=count5min] .status")).to_contain_text("ok")
        expect(table.locator("tr[data-feature=lastEventType] .value")).to_have_text(
            re.compile(r"^(view|cart|purchase)$")
        )
        screenshot(page, "features-02-lookup", tmp_path)

        page.get_by_role("button", name="Predict").click()
        expect(page.locator(".prediction")).to_contain_text("Prediction for user-03")
        expect(page.locator(".prediction-value")).to_have_text(re.compile(r"^(< )?0?\.\d+$|^[01]$"))
        expect(page.locator(".prediction")).to_contain_text("model model.joblib; newest feature")
        expect(page.locator(".prediction")).not_to_contain_text("/")  # no path on the server
        screenshot(page, "features-03-prediction", tmp_path)

        page.fill("#entity", "nobody-at-all")
        page.get_by_role("button", name="Predict").click()
        expect(page.locator(".prediction.alert-warn")).to_contain_text(
            "No features are stored for this entity"
        )
        expect(page.locator(".prediction")).to_contain_text("no feature value stored")
        screenshot(page, "features-03-prediction-unknown", tmp_path)

        page.fill("#entity", "nobody-at-all")
        page.get_by_role("button", name="Show features").click()
        expect(page.locator("h3.lookup-entity")).to_contain_text("unknown entity")
        expect(page.locator("table.features .status").first).to_contain_text("unknown entity")


@pytest.mark.parametrize(("every", "status"), [("86400", "never"), ("1", "succeeded")])
def test_features_page_shows_the_last_log_compaction_at_desktop_and_phone_widths(
    chromium: Any, tmp_path: Path, every: str, status: str
) -> None:
    """Compaction every day (the test never sees it run) or every second (it runs at once)."""
    from playwright.sync_api import expect

    env = {
        "SKYBRIDGE__FEATURES__DEMO_EVERY": "0.5",
        "SKYBRIDGE__FEATURES__COMPACT_EVERY": every,
        "SKYBRIDGE__FEATURES__COMPACT_AFTER": "0",
    }
    with demo_service(tmp_path, env=env) as (url, token):
        for width, height in ((1280, 1000), (390, 844)):
            with browser_page(chromium, width, height) as page:
                login(page, url, token)
                page.goto(f"{url}ui/features")
                card = page.locator("section.compaction")
                deadline = time.monotonic() + 60
                while card.get_attribute("data-status") != status:
                    assert time.monotonic() < deadline, f"compaction is not {status}"
                    time.sleep(0.5)
                    page.reload()
                stat = page.locator(".compaction-stat .stat-value")
                last_run = card.locator("dd.last-run")
                if status == "never":
                    expect(stat).to_have_text("never")
                    expect(last_run).to_have_text("never the job has not run yet")
                    expect(card).to_contain_text("skybridge features log compact compacts now")
                else:
                    expect(stat).to_have_text(re.compile(r"^\d+ s ago$"))
                    expect(last_run).to_contain_text(re.compile(r"succeeded \d+ s ago"))
                    expect(card.locator("dd.merged")).to_contain_text(
                        re.compile(r"(into \d+ files?|nothing to merge); the log has \d+ files?")
                    )
                expect(card).to_contain_text("scheduled job features.compact")
                card.scroll_into_view_if_needed()
                wide = page.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"the page is {wide} px wide at {width} px"
                box = card.bounding_box()
                assert box is not None
                assert box["x"] + box["width"] <= width
                screenshot(page, f"features-04-compaction-{status}-{width}", tmp_path)

        if status == "never":
            _compact_by_hand(tmp_path, env)
            for width, height in ((1366, 1000), (390, 844)):
                with browser_page(chromium, width, height) as page:
                    login(page, url, token)
                    page.goto(f"{url}ui/features")
                    card = page.locator("section.compaction")
                    expect(card).to_have_attribute("data-status", "never")  # the job's own
                    stat = page.locator(".compaction-stat .stat-value")
                    expect(stat).to_have_text(re.compile(r"^\d+ s ago$"))  # the latest run
                    hand = card.locator("dd.by-hand")
                    expect(hand).to_contain_text(re.compile(r"succeeded \d+ s ago"))
                    expect(hand).to_contain_text(re.compile(r"the log has \d+ files?"))
                    card.scroll_into_view_if_needed()
                    wide = page.evaluate("document.documentElement.scrollWidth")
                    assert wide <= width, f"the page is {wide} px wide at {width} px"
                    screenshot(page, f"features-05-compaction-by-hand-{width}", tmp_path)


def _compact_by_hand(folder: Path, env: dict[str, str]) -> None:
    """``skybridge features log compact`` in the demo's folder (its embedded backends)."""
    done = run_cli(folder, "features", "log", "compact", env=env, timeout=120)
    assert done.returncode == 0, done.stderr

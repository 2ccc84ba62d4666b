"""The features page in a real browser: ``skybridge up --demo`` folds live demo events into
the online store; headless Chromium signs in, sees the live entities, looks one up (features
with their age and status) and asks the demo model for a prediction (CSRF-protected POSTs).
Screenshots land in tmp_path and in ``test-artifacts/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot

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

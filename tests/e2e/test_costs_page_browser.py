"""The costs page in a real browser on ``skybridge up --demo``: totals, the three charts,
anomalies and tag compliance from the demo exports, then the remediation dry run (nothing
changes) and the approved run (the audit log fills). Screenshots land in tmp_path and in
``test-artifacts/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, demo_service, login, screenshot

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    with demo_service(tmp_path, stop_timeout=20) as service:
        yield service
    assert "Traceback" not in (tmp_path / "service.log").read_text()


def test_costs_page_shows_spend_charts_and_remediates(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1600) as page:
        login(page, url, token)
        page.click("nav >> text=Costs")
        expect(page).to_have_url(f"{url}ui/costs")
        expect(page.locator("table.providers tr[data-provider=AWS]")).to_be_visible()
        expect(page.locator("table.providers tr[data-provider=Oracle]")).to_be_visible()
        trend = page.locator("figure.trend .chart")
        expect(trend.locator("canvas")).to_have_count(1)  # drawn by uPlot from the page's data
        labels = [line["label"] for line in json.loads(trend.get_attribute("data-plot"))["lines"]]
        assert labels[:3] == ["AWS", "Oracle", "all providers"], labels
        assert "forecast, all providers" in labels, labels
        expect(page.locator("figure.trend figcaption")).to_contain_text("USD")
        expect(page.locator(".stat-label").first).to_contain_text("Billed cost (USD), ")
        expect(page.locator("table.top-services tbody tr").first).to_contain_text("%")
        expect(page.locator("table.untagged-share tbody tr")).to_have_count(2)
        expect(page.locator("table.anomalies tbody tr").first).to_contain_text(
            "Amazon Elastic Compute Cloud"
        )
        expect(page.locator("table.tag-compliance tbody tr")).to_have_count(2)
        screenshot(page, "costs-01-overview", tmp_path)

        page.get_by_role("button", name="Plan (dry run)").click()
        result = page.locator("section.costs-result")
        expect(result.locator("h2")).to_have_text("Remediation plan (dry run)")
        expect(result.get_by_role("status")).to_contain_text("Nothing was changed")
        planned = result.locator("table.remediation-plan tbody tr").count()
        assert planned >= 2
        expect(page.locator("table.audit tbody tr")).to_have_text("No remediation applied yet.")
        screenshot(page, "costs-02-plan", tmp_path)

        page.get_by_role("button", name="Apply plan").click()
        expect(page.locator("#confirm-question")).to_contain_text("Apply the remediation plan: ")
        screenshot(page, "costs-03-confirm", tmp_path)
        page.get_by_role("link", name="Cancel").click()
        expect(page.locator("table.audit tbody tr")).to_have_text("No remediation applied yet.")
        page.get_by_role("button", name="Apply plan").click()
        page.get_by_role("button", name="Confirm").click()
        expect(page.locator("section.costs-result h2")).to_have_text("Remediation applied")
        expect(page.locator("table.audit tbody tr")).to_have_count(planned)
        screenshot(page, "costs-04-applied", tmp_path)

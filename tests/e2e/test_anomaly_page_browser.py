"""The anomaly page in a real browser: ``skybridge up --demo`` streams a NAB series live.

Headless Chromium signs in with the demo token, opens ``/ui/anomaly``, sees the demo series
with its chart and flagged points, watches the series grow as the demo streams it, and
acknowledges then resolves an incident (CSRF-protected POSTs). Screenshots land in tmp_path
and in ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.testing.browser import browser_page, login, running_service, screenshot

pytestmark = pytest.mark.browser
NAB = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nab"
#: The series the demo streams: the NAB one when the shared corpus is there, else its own.
SERIES = "Twitter_volume_AAPL" if (NAB / "data").is_dir() else "demo-generated"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    env = {"SKYBRIDGE__ANOMALY__NAB_DIR": str(NAB), "SKYBRIDGE__ANOMALY__DEMO_RATE": "400"}
    # A longer start than demo_service allows: every app seeds its demo data before it listens.
    log = tmp_path / "service.log"
    with running_service(tmp_path, log, demo=True, env=env, ready_timeout=180) as url:
        yield url, (tmp_path / ".skybridge" / "demo-token").read_text().strip()
    output = (tmp_path / "service.log").read_text()
    assert "Traceback" not in output


def _points(page: Any) -> int:
    return int(page.locator(f"tr[data-series={SERIES}] td.num").first.inner_text())


def _flags(page: Any) -> int:
    """Markers on the series' plot: the flagged points it draws."""
    body = json.loads(page.locator(".series-values .chart").get_attribute("data-plot"))
    (flagged,) = [line for line in body["lines"] if line["style"] == "points"]
    return sum(v is not None for v in flagged["values"])


def test_anomaly_page_shows_live_series_and_handles_incidents(
    demo: tuple[str, str], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token = demo
    with browser_page(chromium, 1280, 1000) as page:
        login(page, url, token)
        page.click("nav >> text=Anomaly detection")
        expect(page).to_have_url(f"{url}ui/anomaly")
        expect(page.locator(f"tr[data-series={SERIES}]")).to_have_count(1)
        plot = page.locator(".series-values .chart")
        expect(plot.locator("canvas")).to_have_count(1)  # drawn by uPlot from the page's data
        expect(plot).to_have_attribute("data-points", re.compile(r"^[1-9]"))
        seeded = _points(page)
        assert seeded >= 1000
        deadline = time.monotonic() + 120
        while _points(page) <= seeded or not _flags(page):
            assert time.monotonic() < deadline, "the demo stream did not reach the page"
            time.sleep(1.0)
            page.reload()
        expect(page.locator("table.flagged tbody tr").first).to_contain_text("robust deviations")
        screenshot(page, "anomaly-01-live", tmp_path)

        rows = page.locator("table.incidents tbody tr[data-incident]")
        chosen = rows.first.get_attribute("data-incident")
        incident = page.locator(f'tr[data-incident="{chosen}"]')
        incident.get_by_role("button", name="Acknowledge").click()
        expect(page.get_by_role("status")).to_contain_text("acknowledged")
        expect(incident).to_contain_text("by demo (dashboard)")
        incident.get_by_role("button", name="Resolve").click()
        expect(page.get_by_role("status")).to_contain_text("resolved")
        screenshot(page, "anomaly-02-resolved", tmp_path)

        # Showing an incident's time is a link: it can be reloaded and shared.
        incident.get_by_role("link", name="Show on chart").click()
        expect(page).to_have_url(re.compile(rf"/ui/anomaly\?series={SERIES}&incident="))
        expect(page.locator(".series-detail h2")).to_contain_text("around incident")
        page.reload()
        expect(page.locator(".series-detail h2")).to_contain_text("around incident")
        page.get_by_label("Series name contains").fill(SERIES[:4])
        page.get_by_role("button", name="Find").click()
        expect(page).to_have_url(re.compile(r"/ui/anomaly\?search="))
        expect(page.locator(f"tr[data-series={SERIES}]")).to_have_count(1)

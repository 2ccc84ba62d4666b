"""Charts, the Streams page and every dashboard page in a real browser, on a live demo.

``skybridge up --demo`` rotates a demo secret every second, so the secretsync pipeline consumes
events the whole time: the charts on Overview and Streams must change while we watch. Every page
is opened at 1366 px and at 390 px with no console error (CSP violations included) and no
horizontal scrolling. Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skybridge.apps.kit.manifest import discover_apps
from skybridge.testing.browser import browser_page, demo_service, login, screenshot
from skybridge.testing.service import clear_skybridge_env

pytestmark = pytest.mark.browser

CORE_PAGES = ["/", "/backends", "/streams", "/tokens"]
APP_PAGES = [f"/ui/{spec.name}" for spec in discover_apps() if spec.page is not None]
PAGES = CORE_PAGES + APP_PAGES


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """The demo rotating a secret every second: (base URL, demo token, its folder)."""
    folder = tmp_path_factory.mktemp("demo")
    rotate = {"SKYBRIDGE__SECRETSYNC__DEMO_ROTATE_EVERY": "1"}
    with demo_service(folder, env=rotate, stop_timeout=20) as (url, token):
        yield url, token, folder
    output = (folder / "service.log").read_text()
    assert "Traceback" not in output


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"{what} did not happen in {timeout}s")


def chart_state(page: Any, selector: str) -> tuple[int, float, str]:
    """(samples shown, newest total, the canvas' pixels) of the chart at ``selector``."""
    chart = page.locator(f"{selector} .chart")
    points = int(chart.get_attribute("data-points") or 0)
    last = float(chart.get_attribute("data-last") or 0)
    canvas = chart.locator("canvas")
    pixels = canvas.evaluate("c => c.toDataURL()") if canvas.count() else ""
    return points, last, pixels


def assert_chart_changes(page: Any, selector: str) -> None:
    """The chart draws samples with a value above zero, then redraws with more samples."""
    first = wait_for(
        lambda: (s := chart_state(page, selector))[0] >= 2 and s[1] > 0 and s,
        45,
        f"{selector} showing activity",
    )
    wait_for(
        lambda: (s := chart_state(page, selector))[0] > first[0] and s[2] != first[2],
        30,
        f"{selector} refreshing",
    )


def collect_problems(page: Any) -> list[str]:
    """Console errors and warnings (CSP violations among them) and uncaught exceptions."""
    problems: list[str] = []

    def console(message: Any) -> None:
        if message.type in {"error", "warning"}:
            problems.append(f"{message.type}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"exception: {error}"))
    return problems


def test_overview_and_streams_charts_change_while_the_demo_runs(
    demo: tuple[str, str, Path], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token, _ = demo
    with browser_page(chromium, 1366, 900) as page:
        problems = collect_problems(page)
        login(page, url, token)
        expect(page.get_by_role("heading", name="Activity")).to_be_visible()
        expect(page.locator(".chart-card")).to_have_count(3)
        assert_chart_changes(page, ".activity .chart-card.throughput")
        expect(page.locator(".chart-card.throughput .u-legend")).to_contain_text("secretsync")
        screenshot(page, "charts-01-overview", tmp_path)

        page.click("nav >> text=Streams")
        expect(page).to_have_url(f"{url}streams")
        expect(page.locator("table.topics tr[data-topic='secretsync.events']")).to_be_visible()
        group = page.locator("table.groups tr[data-group=secretsync]")
        expect(group).to_contain_text("secretsync.events")
        assert_chart_changes(page, ".chart-card.throughput")
        expect(page.locator(".chart-card.lag .u-legend")).to_contain_text(
            "secretsync / secretsync.events"
        )
        screenshot(page, "charts-02-streams", tmp_path)
        assert problems == []


def test_a_dead_letter_is_shown_and_replayed_from_the_streams_page(
    demo: tuple[str, str, Path], chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    url, token, folder = demo
    produce = [sys.executable, "-m", "skybridge.cli", "stream", "produce", "secretsync.events"]
    subprocess.run(
        [*produce, "this is not an event"], cwd=folder, env=clear_skybridge_env(), check=True
    )
    with browser_page(chromium, 1366, 900) as page:
        login(page, url, token)

        def letter_listed() -> bool:
            page.goto(f"{url}streams")
            return page.locator(".letters-topic[data-topic='secretsync.events'] tr").count() > 1

        wait_for(letter_listed, 30, "the dead letter reaching the Streams page")
        letters = page.locator(".letters-topic[data-topic='secretsync.events']")
        waiting = letters.locator("tr", has=page.get_by_role("button", name="Replay"))
        expect(waiting.first).to_contain_text("JSONDecodeError")
        expect(page.locator("body")).not_to_contain_text("this is not an event")
        screenshot(page, "streams-01-dead-letter", tmp_path)

        waiting.first.get_by_role("button", name="Replay").click()
        expect(page.get_by_role("status")).to_contain_text("Replayed 1 dead letter")
        expect(letters.locator(".pill-ok", has_text="replayed").first).to_be_visible()
        screenshot(page, "streams-02-replayed", tmp_path)


@pytest.mark.parametrize("width", [1366, 390])
def test_every_page_is_clean_at_desktop_and_phone_widths(
    demo: tuple[str, str, Path], chromium: Any, tmp_path: Path, width: int
) -> None:
    from playwright.sync_api import expect

    url, token, _ = demo
    with browser_page(chromium, width, 900) as page:
        problems = collect_problems(page)
        page.goto(f"{url}login")
        screenshot(page, f"pages-{width}-login", tmp_path)
        login(page, url, token)
        for path in PAGES:
            page.goto(url + path.lstrip("/"))
            page.wait_for_load_state("networkidle")
            if page.locator(".chart").count():
                expect(page.locator(".chart canvas").first).to_be_visible(timeout=20_000)
            name = path.strip("/").replace("/", "-") or "overview"
            screenshot(page, f"pages-{width}-{name}", tmp_path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} is {wide} px wide at {width} px"
            for item in page.locator("header nav a, header .who").all():
                box = item.bounding_box()
                assert box is not None
                assert box["x"] + box["width"] <= width, f"{item.inner_text()} overflows on {path}"
        assert problems == [], problems

        missing = page.goto(f"{url}no/such/page")
        assert missing is not None
        assert missing.status == 404
        expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
        screenshot(page, f"pages-{width}-404", tmp_path)
        assert [p for p in problems if "404 (Not Found)" not in p] == []

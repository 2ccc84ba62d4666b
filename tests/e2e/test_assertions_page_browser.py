"""The assertions page in a real browser: ``skybridge up --demo`` seeds the SLA example.

Headless Debian Chromium signs in with the demo token, opens ``/ui/assertions``, runs
"Check all now" (a CSRF-protected POST) and opens an assertion's explain details.
Screenshots land in tmp_path and in ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from skybridge.testing.servers import free_port

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"skybridge up --demo exited with {process.returncode}")
        try:
            if httpx.get(f"{url}healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """``skybridge up --demo`` in a fresh folder: (base URL, demo token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    port = free_port()
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "skybridge.cli", "up", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(url, process)
        token = (tmp_path / ".skybridge" / "demo" / "demo-token").read_text().strip()
        yield url, token
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        log.close()


def _shot(page: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)


def test_assertions_page_lists_checks_and_explains(demo: tuple[str, str], tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, token = demo
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}login")
            page.fill("#token", token)
            page.click("button[type=submit]")
            page.click("nav >> text=Assertions")
            expect(page).to_have_url(f"{url}ui/assertions")
            rows = page.locator("table.assertions tbody tr")
            expect(rows).to_have_count(3)
            legacy = page.locator("tr[data-name=ticket_requires_active_sla]")
            expect(legacy.locator(".pill-warn")).to_have_text("novalidate")
            expect(legacy.locator(".last-check")).to_contain_text("not checked yet")
            deferred = page.locator("tr[data-name=sla_must_have_services]")
            expect(deferred.locator(".pill-info")).to_have_text("deferred")
            _shot(page, tmp_path, "assertions-01-list")

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
            _shot(page, tmp_path, "assertions-02-checked")

            holds.get_by_role("button", name="Check critical_tickets_need_senior_engineer").click()
            expect(page.get_by_role("status")).to_contain_text("1 checked assertion holds")

            explain = page.locator("#explain-critical_tickets_need_senior_engineer")
            explain.locator("summary").first.click()
            guards = explain.locator("table.guards tbody tr")
            expect(guards).to_have_count(4)
            expect(explain).to_contain_text("key:engineers.engineer_id,tickets.assigned_to")
            explain.scroll_into_view_if_needed()
            _shot(page, tmp_path, "assertions-03-explain")
        finally:
            browser.close()

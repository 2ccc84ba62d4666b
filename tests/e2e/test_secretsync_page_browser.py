"""The secretsync page in a real browser: ``skybridge up --demo`` syncs a local mapping live.

Headless Debian Chromium signs in with the demo token, opens ``/ui/secretsync``, sees the
demo mappings in sync, watches a rotation arrive through the events pipeline, then runs
"Reconcile (dry run)" and "Reconcile now" (CSRF-protected POSTs). Screenshots land in tmp_path
and in ``test-artifacts/`` at the repo root.
"""

from __future__ import annotations

import os
import re
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
    """``skybridge up --demo`` rotating a demo secret every 2 s: (base URL, demo token)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    env["SKYBRIDGE__SECRETSYNC__DEMO_ROTATE_EVERY"] = "2"
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
        process.wait(timeout=20)
        log.close()
    output = (tmp_path / "service.log").read_text()
    assert "Application shutdown complete" in output
    assert "Traceback" not in output


def _shot(page: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)


def test_secretsync_page_shows_live_sync_and_reconciles(
    demo: tuple[str, str], tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, token = demo
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}login")
            page.fill("#token", token)
            page.click("button[type=submit]")
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
            _shot(page, tmp_path, "secretsync-01-live")

            page.get_by_role("button", name="Reconcile (dry run)").click()
            expect(page).to_have_url(f"{url}ui/secretsync")
            result = page.locator("section.sync-result")
            expect(result.locator("h2")).to_have_text("Reconcile plan (dry run)")
            expect(result.locator("table.plan tbody tr")).to_have_count(3)
            _shot(page, tmp_path, "secretsync-02-plan")

            page.get_by_role("button", name="Reconcile now").click()
            expect(page.locator("section.sync-result h2")).to_have_text("Reconcile")
            expect(page.get_by_role("status")).to_contain_text(
                re.compile(r"Everything is in sync|Reconciled")
            )
            _shot(page, tmp_path, "secretsync-03-reconciled")
        finally:
            browser.close()

"""The dashboard in a real browser: ``skybridge up`` in a subprocess, headless Chromium driving it.

Screenshots land in the test's tmp_path and are copied to ``test-artifacts/`` at the repo root
(git-ignored) so people can look at them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from skybridge.auth.tokens import TokenStore
from skybridge.backends.sql import create_sql_engine

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass
class Service:
    url: str
    token: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"skybridge up exited with {process.returncode}")
        try:
            if httpx.get(f"{url}healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    workdir = tmp_path / "service"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    engine = create_sql_engine(f"sqlite:///{workdir}/.skybridge/skybridge.db")
    token = TokenStore(engine).create("browser-admin")[1].reveal()
    engine.dispose()
    port = _free_port()
    log = (tmp_path / "service.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "skybridge.cli", "up", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(url, process)
        yield Service(url, token)
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def _shot(page: object, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)


def test_login_overview_backends_and_tokens(service: Service, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(service.url)
            expect(page).to_have_url(f"{service.url}login")
            expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
            _shot(page, tmp_path, "01-login")

            page.fill("#token", "sbk_wrong")
            page.click("button[type=submit]")
            expect(page.get_by_role("alert")).to_contain_text("unknown or has been revoked")

            page.fill("#token", service.token)
            page.click("button[type=submit]")
            expect(page).to_have_url(service.url)
            expect(page.get_by_role("heading", name="Overview")).to_be_visible()
            expect(page.locator(".who-name")).to_have_text("browser-admin")
            expect(page.locator(".stat-value.good")).to_have_text("5 / 5")
            _shot(page, tmp_path, "02-overview")

            page.click("nav >> text=Backends")
            expect(page.get_by_role("heading", name="Backends")).to_be_visible()
            rows = page.locator("table.table tbody tr")
            expect(rows).to_have_count(5)
            for name in ("kv", "objects", "secrets", "notify", "sql"):
                row = rows.filter(has=page.locator(f"strong:text-is('{name}')"))
                expect(row.locator(".pill")).to_have_text("ok")
            _shot(page, tmp_path, "03-backends")

            page.click("nav >> text=Tokens")
            page.fill("#name", "from-browser")
            page.click("text=Create token")
            new_token = page.locator("#new-token").inner_text().strip()
            assert new_token.startswith("sbk_")
            auth = {"Authorization": f"Bearer {new_token}"}
            whoami = httpx.get(f"{service.url}api/whoami", headers=auth)
            assert whoami.json()["name"] == "from-browser"
            _shot(page, tmp_path, "04-token-created")

            row = page.locator("tr", has=page.locator("strong:text-is('from-browser')"))
            row.get_by_role("button", name="Revoke").click()
            expect(page.get_by_role("status")).to_contain_text("was revoked")
            assert httpx.get(f"{service.url}api/whoami", headers=auth).status_code == 401
            _shot(page, tmp_path, "05-token-revoked")

            cookies = page.context.cookies()
            session = next(c for c in cookies if c["name"] == "skybridge_session")
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Strict"

            page.click("text=Sign out")
            expect(page).to_have_url(f"{service.url}login")
        finally:
            browser.close()

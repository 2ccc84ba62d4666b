"""Browser tests: ``skybridge up`` in a subprocess and headless Chromium (Playwright) driving it.

The pytest plugin's ``skybridge_chromium`` fixture starts one browser per session from
``$SKYBRIDGE_CHROMIUM`` (default ``/usr/bin/chromium``, Debian's package: Playwright's own
browser download is not needed). Screenshots land in the test's tmp_path and are copied to
``$SKYBRIDGE_TEST_ARTIFACTS`` (default ``./test-artifacts``) so people can look at them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from skybridge.testing.servers import free_port

ARTIFACTS = Path(os.environ.get("SKYBRIDGE_TEST_ARTIFACTS", "test-artifacts")).resolve()
CHROMIUM = os.environ.get("SKYBRIDGE_CHROMIUM", "/usr/bin/chromium")
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


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed afterwards."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(chromium: Any, width: int, height: int) -> Iterator[Any]:
    """A page of ``width`` x ``height`` in a fresh context (no cookies), closed afterwards."""
    page = chromium.new_page(viewport={"width": width, "height": height})
    try:
        yield page
    finally:
        page.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not become healthy")


@contextmanager
def running_service(
    cwd: Path,
    log_path: Path,
    *,
    demo: bool = False,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    stop_timeout: float = 15.0,
) -> Iterator[str]:
    """``skybridge up [--demo]`` in ``cwd`` with no inherited SKYBRIDGE* settings: its base URL.

    Output goes to ``log_path``; the service gets SIGTERM on exit.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SKYBRIDGE")}
    environ.update(env or {})
    command = ["up", "--demo"] if demo else ["up"]
    port = free_port()
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "skybridge.cli", *command, "--port", str(port)],
        cwd=cwd,
        env=environ,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(url, process, "skybridge " + " ".join(command), ready_timeout)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=stop_timeout)
        log.close()


@contextmanager
def demo_service(
    tmp_path: Path, *, env: dict[str, str] | None = None, stop_timeout: float = 15.0
) -> Iterator[tuple[str, str]]:
    """``skybridge up --demo`` in ``tmp_path``: (base URL, demo token)."""
    with running_service(
        tmp_path,
        tmp_path / "service.log",
        demo=True,
        env=env,
        ready_timeout=60.0,
        stop_timeout=stop_timeout,
    ) as url:
        token = (tmp_path / ".skybridge" / "demo-token").read_text().strip()
        yield url, token


def submit_token(page: Any, token: str) -> None:
    """Type ``token`` into the sign-in form that ``page`` shows and submit it."""
    page.fill("#token", token)
    page.click("button[type=submit]")


def login(page: Any, base_url: str, token: str) -> None:
    """Open the sign-in page of the service at ``base_url`` and sign in with ``token``."""
    page.goto(f"{base_url}login")
    submit_token(page, token)


def screenshot(page: Any, name: str, tmp_path: Path) -> None:
    """Full-page screenshot ``name``.png in ``tmp_path``, copied to ``test-artifacts/``."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / path.name)

"""``/docs`` in headless Chromium: Swagger UI from the service's own assets, no console error.

The browser is kept off every other origin, so a script or stylesheet from a CDN would fail
to load (and show up as a console error or a missing operation list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from skybridge.testing.browser import browser_page, running_service, screenshot

pytestmark = pytest.mark.browser


def test_docs_show_the_operations_offline_with_no_console_error(
    tmp_path: Path, chromium: Any
) -> None:
    from playwright.sync_api import expect

    workdir = tmp_path / "service"
    workdir.mkdir()
    with (
        running_service(workdir, tmp_path / "service.log") as url,
        browser_page(chromium, 1366, 900) as page,
    ):
        origin = urlsplit(url).netloc
        errors: list[str] = []
        foreign: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def only_this_origin(route: Any) -> None:
            if urlsplit(route.request.url).netloc == origin:
                route.continue_()
            else:
                foreign.append(route.request.url)
                route.abort()

        page.route("**/*", only_this_origin)
        page.goto(f"{url}docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
        expect(page.locator(".opblock-summary-path", has_text="/api/whoami")).to_be_visible()
        assert page.locator(".opblock").count() > 10
        page.locator(".opblock-summary", has_text="/api/whoami").click()
        expect(page.locator(".opblock.is-open")).to_be_visible()
        screenshot(page, "docs", tmp_path)
        assert errors == []
        assert foreign == []

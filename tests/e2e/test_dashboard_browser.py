"""The dashboard in a real browser: ``skybridge up`` in a subprocess, headless Chromium driving it.

Screenshots land in the test's tmp_path and are copied to ``test-artifacts/`` at the repo root
(git-ignored) so people can look at them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from skybridge.auth.tokens import TokenStore
from skybridge.backends.sql import create_sql_engine
from skybridge.testing.browser import browser_page, running_service, screenshot, submit_token

pytestmark = pytest.mark.browser


@dataclass
class Service:
    url: str
    token: str


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    workdir = tmp_path / "service"
    workdir.mkdir()
    engine = create_sql_engine(f"sqlite:///{workdir}/.skybridge/service.db")
    token = TokenStore(engine).create("browser-admin", ["admin"])[1].reveal()
    engine.dispose()
    with running_service(workdir, tmp_path / "service.log") as url:
        yield Service(url, token)


def test_login_overview_backends_and_tokens(
    service: Service, chromium: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    with browser_page(chromium, 1280, 800) as page:
        page.goto(service.url)
        expect(page).to_have_url(f"{service.url}login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        screenshot(page, "01-login", tmp_path)

        submit_token(page, "sbk_wrong")
        expect(page.get_by_role("alert")).to_contain_text("unknown or has been revoked")

        submit_token(page, service.token)
        expect(page).to_have_url(service.url)
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        expect(page.locator(".who-name")).to_have_text("browser-admin")
        healthy = page.locator(".stat-value.good")  # every backend, apps' families included
        expect(healthy).to_have_text(re.compile(r"^(\d+) / \1$"))
        backends = int(healthy.inner_text().split(" / ")[1])
        screenshot(page, "02-overview", tmp_path)

        page.click("nav >> text=Backends")
        expect(page.get_by_role("heading", name="Backends")).to_be_visible()
        rows = page.locator("table.table tbody tr")
        expect(rows).to_have_count(backends)
        for name in (
            "kv",
            "objects",
            "secrets",
            "notify",
            "sql",
            "compute",
            "vectors",
            "embeddings",
            "llm",
        ):
            row = rows.filter(has=page.locator(f"strong:text-is('{name}')"))
            expect(row.locator(".pill")).to_have_text("ok")
        screenshot(page, "03-backends", tmp_path)

        page.click("nav >> text=Tokens")
        page.fill("#name", "from-browser")
        page.click("text=Create token")
        new_token = page.locator("#new-token").inner_text().strip()
        assert new_token.startswith("sbk_")
        auth = {"Authorization": f"Bearer {new_token}"}
        whoami = httpx.get(f"{service.url}api/whoami", headers=auth)
        assert whoami.json()["name"] == "from-browser"
        screenshot(page, "04-token-created", tmp_path)

        row = page.locator("tr", has=page.locator("strong:text-is('from-browser')"))
        row.get_by_role("button", name="Revoke").click()
        expect(page.locator("#confirm-question")).to_contain_text(
            "Revoke the token 'from-browser'?"
        )
        assert httpx.get(f"{service.url}api/whoami", headers=auth).status_code == 200
        screenshot(page, "05-token-revoke-confirm", tmp_path)
        page.get_by_role("button", name="Revoke").click()
        expect(page.get_by_role("status")).to_contain_text("was revoked")
        assert httpx.get(f"{service.url}api/whoami", headers=auth).status_code == 401
        screenshot(page, "05-token-revoked", tmp_path)

        cookies = page.context.cookies()
        session = next(c for c in cookies if c["name"] == "skybridge_session")
        assert session["httpOnly"] is True
        assert session["sameSite"] == "Strict"

        page.click("text=Sign out")
        expect(page).to_have_url(f"{service.url}login")

        page.goto(f"{service.url}tokens")  # a deep link, signed out: back there once signed in
        expect(page).to_have_url(f"{service.url}login?next=%2Ftokens")
        submit_token(page, service.token)
        expect(page).to_have_url(f"{service.url}tokens")
        expect(page.get_by_role("heading", name="API tokens")).to_be_visible()

"""What every page has: favicon, an HTML 404, no inline styles or scripts, charts where asked
for (with the only CSP change they need), and the apps' real CLI commands on Overview."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from skybridge.server.pages import STATIC_DIR, TEMPLATES_DIR
from skybridge.testing.service import ServiceHarness, csrf_of, service_harness

SRC = Path(__file__).parents[2] / "src" / "skybridge"


@pytest.fixture
def service(skybridge_workdir: Path) -> Iterator[ServiceHarness]:
    with service_harness() as harness:
        yield harness


def test_the_favicon_is_served_and_linked(service: ServiceHarness) -> None:
    icon = service.client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"
    assert service.client.get("/static/favicon.svg").status_code == 200
    assert 'rel="icon" href="/favicon.ico"' in service.client.get("/login").text


def test_an_unknown_page_is_an_html_404(service: ServiceHarness) -> None:
    signed_out = service.client.get("/no/such/page")
    assert signed_out.status_code == 404
    assert signed_out.headers["content-type"].startswith("text/html")
    assert "Page not found" in signed_out.text
    assert 'href="/login"' in signed_out.text
    assert "default-src 'none'" in signed_out.headers["content-security-policy"]
    service.login()
    signed_in = service.client.get("/ui/nothing")
    assert signed_in.status_code == 404
    assert "Page not found" in signed_in.text
    assert "No dashboard page for an app called &#39;nothing&#39;." in signed_in.text
    assert 'class="nav"' in signed_in.text


def test_an_unknown_api_path_stays_json(service: ServiceHarness) -> None:
    response = service.client.get("/api/no/such/thing", headers=service.auth)
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "message": "Not Found"}


def test_overview_names_each_apps_real_command_and_draws_charts(service: ServiceHarness) -> None:
    service.login()
    page = service.client.get("/")
    assert "<code>skybridge assert</code>" in page.text
    assert "<code>skybridge secrets</code>" in page.text
    assert "<code>skybridge assertions</code>" not in page.text
    assert "<code>skybridge secretsync</code>" not in page.text
    assert page.text.count('class="chart"') == 3
    assert 'src="/static/vendor/uplot/uPlot.iife.min.js"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'; connect-src 'self'" in csp
    assert "unsafe" not in csp


@pytest.mark.parametrize("path", ["/ui/secretsync", "/ui/assertions"])
def test_app_pages_draw_the_kits_charts(service: ServiceHarness, path: str) -> None:
    service.login()
    page = service.client.get(path)
    assert page.status_code == 200
    assert 'class="chart-grid"' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/login", "/tokens", "/backends"])
def test_pages_without_charts_run_no_script(service: ServiceHarness, path: str) -> None:
    if path != "/login":
        service.login()
    page = service.client.get(path)
    assert "<script" not in page.text
    assert "script-src" not in page.headers["content-security-policy"]


def test_a_session_without_service_read_gets_no_chart_scripts(service: ServiceHarness) -> None:
    narrow = service.new_token("narrow", scopes=["secretsync:read"])
    service.client.post(
        "/login", data={"token": narrow, "csrf": csrf_of(service.client.get("/login").text)}
    )
    page = service.client.get("/ui/secretsync")
    assert page.status_code == 200
    assert "<script" not in page.text
    assert "Charts need the <code>service:read</code> scope." in page.text


def test_no_template_or_asset_has_inline_style_or_script() -> None:
    templates = [*TEMPLATES_DIR.glob("*.html"), *SRC.glob("apps/*/templates/**/*.html")]
    assert len(templates) > 8
    for path in templates:
        text = path.read_text()
        assert not re.search(r"<[a-z][^>]*\sstyle=", text), f"inline style in {path}"
        assert "<style" not in text, f"style element in {path}"
        assert not re.search(r"<script(?![^>]*\ssrc=)", text), f"inline script in {path}"
        assert not re.search(r"<[a-z][^>]*\son[a-z]+=", text), f"event handler in {path}"
    assert "eval(" not in (STATIC_DIR / "charts.js").read_text()


def test_the_vendored_chart_library_carries_its_licence_and_version() -> None:
    vendored = STATIC_DIR / "vendor" / "uplot"
    assert "MIT License" in (vendored / "LICENSE").read_text()
    notes = (vendored / "README.md").read_text()
    assert "1.6.32" in notes
    assert (
        "/*! https://github.com/leeoniya/uPlot (v1.6.32) */"
        in ((vendored / "uPlot.iife.min.js").read_text()[:60])
    )

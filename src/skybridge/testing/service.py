"""Driving the HTTP service in tests: a fresh working directory, a token, a dashboard login.

::

    def test_status(skybridge_service):
        response = skybridge_service.client.get("/api/secretsync/status",
                                                headers=skybridge_service.auth)

The pytest plugin hands out :func:`fresh_workdir` as ``skybridge_workdir`` and a
:class:`ServiceHarness` over every installed app as ``skybridge_service``.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from skybridge.apps.kit.manifest import AppSpec
    from skybridge.core.config import Settings

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def clear_skybridge_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) without any ``SKYBRIDGE*`` variable."""
    source = os.environ if environ is None else environ
    return {k: v for k, v in source.items() if not k.startswith("SKYBRIDGE")}


def csrf_of(html: str) -> str:
    """The CSRF field of the first form in ``html``."""
    match = _CSRF.search(html)
    if match is None:
        raise AssertionError("the page has no CSRF field")
    return match.group(1)


@dataclass
class ServiceHarness:
    """A service on embedded backends in a fresh directory, with an admin token."""

    client: TestClient
    token: str
    settings: Settings
    csrf: str | None = field(default=None)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def new_token(self, name: str, **options: Any) -> str:
        """Create another token (``scopes=`` where supported); return its value."""
        store = self.client.app.state.skybridge.tokens  # type: ignore[attr-defined]
        _, value = store.create(name, **options)
        return str(value.reveal())

    def login(self, token: str | None = None) -> str:
        """Sign the client in to the dashboard; return (and keep) the session's CSRF token."""
        form = self.client.get("/login")
        response = self.client.post(
            "/login",
            data={"token": token or self.token, "csrf": csrf_of(form.text)},
            follow_redirects=False,
        )
        if response.status_code != 303:
            raise AssertionError(f"login failed: {response.status_code} {response.text[:200]}")
        self.csrf = csrf_of(self.client.get("/").text)
        return self.csrf

    def logout(self) -> None:
        self.client.cookies.clear()
        self.csrf = None


@contextmanager
def service_harness(apps: list[AppSpec] | None = None, **settings: Any) -> Iterator[ServiceHarness]:
    """The service (with ``apps``, default every installed one) in the current directory."""
    from fastapi.testclient import TestClient

    from skybridge.apps.kit.settings import load_settings
    from skybridge.server import create_app

    loaded = load_settings(apps, **settings)
    with TestClient(create_app(loaded, apps=apps), raise_server_exceptions=False) as client:
        name = f"tester-{secrets.token_hex(4)}"
        _, token = client.app.state.skybridge.tokens.create(name, ["admin"])  # type: ignore[attr-defined]
        yield ServiceHarness(client, str(token.reveal()), loaded)


def fresh_workdir(path: Path, monkeypatch: Any) -> Path:
    """Make ``path`` the working directory with no ``SKYBRIDGE*`` settings in the environment."""
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(path)
    return path


def on_event_loop() -> bool:
    """Whether the caller runs on an event loop (a route or page checking that its work was
    handed to a worker thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

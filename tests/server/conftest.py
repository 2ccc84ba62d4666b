"""Fixtures for the HTTP service: a service on embedded backends in a fresh directory."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from skybridge.core.config import Settings, load_settings
from skybridge.server import create_app


@pytest.fixture
def workdir(skybridge_workdir: Path) -> Path:
    """A fresh working directory with no SKYBRIDGE settings from the environment."""
    return skybridge_workdir


@pytest.fixture
def settings(workdir: Path) -> Settings:
    return load_settings()


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings, apps=[])


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def token(app: FastAPI) -> str:
    _, value = app.state.skybridge.tokens.create("tester", ["admin"])
    return str(value.reveal())


@pytest.fixture
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(html: str) -> str:
    """The CSRF field of the first form in ``html``."""
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "page has no CSRF field"
    return match.group(1)


@pytest.fixture
def login() -> Callable[[TestClient, str], str]:
    """Sign ``client`` in to the dashboard with ``token``; returns the session's CSRF token."""

    def sign_in(client: TestClient, token: str) -> str:
        form = client.get("/login")
        response = client.post(
            "/login", data={"token": token, "csrf": csrf_of(form.text)}, follow_redirects=False
        )
        assert response.status_code == 303, response.text
        return csrf_of(client.get("/").text)

    return sign_in

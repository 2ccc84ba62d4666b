"""Rendering dashboard pages: the Jinja2 environment, shared context and security headers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.web import AppPage
from skybridge.server.security import allowed
from skybridge.server.session import Session
from skybridge.server.state import get_state

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

# No scripts at all; styles only from our own static folder.
_HTML_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = _when
    return env


templates = Jinja2Templates(env=_environment())


def page_apps(apps: list[AppSpec]) -> list[AppSpec]:
    """The apps that have a dashboard page, in navigation order."""
    return [app for app in apps if app.page is not None]


def render(
    request: Request,
    template: str,
    *,
    session: Session | None,
    active: str,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A dashboard page with the layout's shared context and strict security headers."""
    state = get_state(request)
    shared = {
        "version": state.version,
        "nav_apps": page_apps(state.apps),
        "active": active,
        "session": session,
        "principal": session.principal if session else None,
        "csrf": session.csrf if session else context.pop("csrf", ""),
        "can": partial(allowed, request),
    }
    return templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status_code, headers=_HTML_HEADERS
    )


def render_app_page(
    content: str | AppPage, csrf: str = "", can: Callable[[str], bool] | None = None
) -> Markup:
    """The HTML an app's ``page`` returned, ready to place inside the layout.

    Templates also receive the session's ``csrf`` token for forms posted to ``/ui/<name>`` and
    ``can(scope)``, to leave out what the session may not do.
    """
    if isinstance(content, str):
        return Markup(content)  # noqa: S704 - the app renders (and escapes) its own fragment
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(content.package, "templates"), autoescape=True
    )
    return Markup(  # noqa: S704 - rendered by an auto-escaping environment
        env.get_template(content.template).render(
            **{"csrf": csrf, "can": can or (lambda _scope: False), **content.context}
        )
    )

"""Rendering dashboard pages: the Jinja2 environment, shared context and security headers."""

from __future__ import annotations

import threading
from collections.abc import Callable, MutableMapping
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
from fastapi import Request, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.web import AppPage
from skybridge.core.clock import when
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
#: Pages with charts also run our own scripts (vendored uPlot, charts.js) and fetch JSON from
#: this origin; still no inline script, no eval.
_CHART_DIRECTIVES = "; script-src 'self'; connect-src 'self'"
#: The app kit's shared macros (``kit/components.html``), for our pages and the apps'.
_KIT_TEMPLATES = jinja2.PackageLoader("skybridge.apps.kit", "templates")


def _headers(charts: bool) -> dict[str, str]:
    if not charts:
        return _HTML_HEADERS
    csp = _HTML_HEADERS["Content-Security-Policy"] + _CHART_DIRECTIVES
    return {**_HTML_HEADERS, "Content-Security-Policy": csp}


class TemplateEnvironment(jinja2.Environment):
    """A Jinja environment that compiles each template once, however many requests ask for it
    at once.

    Jinja compiles a template on a cache miss without a lock, so a burst of first requests
    compiled it in every worker thread at the same time: pure Python that kept the event loop
    (and ``/healthz``) from the GIL. Loads wait for each other here; rendering does not.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._loading = threading.RLock()

    def get_template(
        self,
        name: str | jinja2.Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        with self._loading:
            return super().get_template(name, parent, globals)


def _environment() -> jinja2.Environment:
    env = TemplateEnvironment(
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES_DIR), _KIT_TEMPLATES]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["when"] = when
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
    """A dashboard page with the layout's shared context and strict security headers.

    ``charts=True`` in ``context``: the page draws charts, so it loads the chart scripts (when
    the session may read the metrics history, ``service:read``) and its CSP allows scripts
    from this origin.
    """
    state = get_state(request)
    charts = bool(context.pop("charts", False)) and allowed(request, "service:read")
    shared = {
        "version": state.version,
        "nav_apps": page_apps(state.apps),
        "active": active,
        "session": session,
        "principal": session.principal if session else None,
        "csrf": session.csrf if session else context.pop("csrf", ""),
        "can": partial(allowed, request),
        "charts": charts,
    }
    return templates.TemplateResponse(
        request, template, {**shared, **context}, status_code=status_code, headers=_headers(charts)
    )


_APP_ENVIRONMENTS: dict[str, jinja2.Environment] = {}
_APP_ENVIRONMENTS_LOCK = threading.Lock()


def _app_environment(package: str) -> jinja2.Environment:
    """The environment of one app's templates, kept so each template compiles once (Jinja
    recompiles one whose file changed). Made under a lock: requests given environments of
    their own would each compile the templates again."""
    with _APP_ENVIRONMENTS_LOCK:
        env = _APP_ENVIRONMENTS.get(package)
        if env is None:
            own = jinja2.PackageLoader(package, "templates")
            env = TemplateEnvironment(
                loader=jinja2.ChoiceLoader([own, _KIT_TEMPLATES]), autoescape=True
            )
            env.filters["when"] = when
            _APP_ENVIRONMENTS[package] = env
        return env


def render_app_page(
    content: str | AppPage, csrf: str = "", can: Callable[[str], bool] | None = None
) -> Markup:
    """The HTML an app's ``page`` returned, ready to place inside the layout.

    Templates also receive the session's ``csrf`` token for forms posted to ``/ui/<name>`` and
    ``can(scope)``, to leave out what the session may not do, and can import the kit's macros
    (``kit/components.html``) and use the ``when`` filter (a time to the minute in UTC).
    """
    if isinstance(content, str):
        return Markup(content)  # noqa: S704 - the app renders (and escapes) its own fragment
    return Markup(  # noqa: S704 - rendered by an auto-escaping environment
        _app_environment(content.package)
        .get_template(content.template)
        .render(**{"csrf": csrf, "can": can or (lambda _scope: False), **content.context})
    )

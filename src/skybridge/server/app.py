"""``create_app(settings)``: the FastAPI service.

Unauthenticated: ``/healthz``, ``/metrics``, ``/docs``, ``/openapi.json``, ``/login`` and the
dashboard's stylesheet under ``/static``. Everything under ``/api`` needs
``Authorization: Bearer <token>``; dashboard pages need the session cookie set by ``/login``.
Each installed app's router is mounted under ``/api/<name>`` and its page at ``/ui/<name>``.
Request limits (:mod:`.limits`) and security headers (:mod:`.headers`) wrap every route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from skybridge.apps.kit.access import document_scopes, route_scopes
from skybridge.apps.kit.answers import ServiceJSONResponse
from skybridge.apps.kit.background import Background
from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec, discover_apps
from skybridge.apps.kit.settings import load_settings
from skybridge.auth.scopes import ScopeCatalog
from skybridge.auth.store import service_engine, token_store
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError
from skybridge.core.observability import METRICS
from skybridge.server import api, dashboard, history_api, observe, streams_page
from skybridge.server.about import skybridge_version
from skybridge.server.bodycap import announced_body_fits
from skybridge.server.docs import install_docs
from skybridge.server.errors import install_error_handlers
from skybridge.server.headers import ServiceApp
from skybridge.server.history import start_sampling
from skybridge.server.limits import install_limits
from skybridge.server.pages import STATIC_DIR
from skybridge.server.security import require_token
from skybridge.server.session import Signer, load_session_secret
from skybridge.server.site import install_site
from skybridge.server.state import ServiceState

DESCRIPTION = (
    "skybridge runs cloud-data patterns across AWS and Oracle Cloud. Every `/api` route needs "
    "`Authorization: Bearer <token>`; create one with `skybridge token create NAME`."
)


def build_state(
    settings: Settings,
    apps: list[AppSpec] | None = None,
    *,
    demo: bool = False,
    background: bool = False,
) -> ServiceState:
    """Everything the service needs, from ``settings``; fails fast on a bad setting.

    ``background`` also runs the apps' pipelines, services and jobs while the service runs
    (``demo`` adds their demo services).
    """
    apps = discover_apps() if apps is None else apps
    contexts = {spec.name: AppContext.create(spec, settings, demo=demo) for spec in apps}
    engine = service_engine(settings)
    return ServiceState(
        settings=settings,
        engine=engine,
        tokens=token_store(settings, engine),
        signer=Signer(load_session_secret(settings)),
        apps=apps,
        contexts=contexts,
        version=skybridge_version(),
        scopes=ScopeCatalog.build(spec.scopes for spec in apps),
        background=Background(apps, settings, demo=demo) if background else None,
    )


def app_router(spec: AppSpec, state: ServiceState) -> APIRouter:
    """The app's router, after checking that each route declares a scope the app knows."""
    router: APIRouter = spec.load("router")(state.context(spec))
    for route in router.routes:
        scopes = route_scopes(route)
        where = f"app '{spec.name}' route {getattr(route, 'path', route)}"
        if len(scopes) != 1:
            raise ConfigError(
                f"{where} declares {len(scopes)} scopes; it needs exactly one",
                hint="add dependencies=[requires('<app>:<action>')] to the route",
            )
        if scopes[0] not in state.scopes.roles_of:
            raise ConfigError(f"{where} needs scope {scopes[0]!r}, which no manifest declares")
    document_scopes(router)
    return router


def _mount_apps(app: FastAPI, state: ServiceState) -> None:
    for spec in state.apps:
        if spec.router is not None:
            app.include_router(
                app_router(spec, state),
                prefix=f"/api/{spec.name}",
                tags=[spec.name],
                dependencies=[Depends(require_token)],
                responses=api.AUTH_ERRORS,
            )


def create_app(
    settings: Settings | None = None,
    *,
    apps: list[AppSpec] | None = None,
    demo: bool = False,
    background: bool = False,
) -> FastAPI:
    """Build the service. ``apps`` replaces plug-in discovery (tests, embedding);
    ``background`` runs the apps' background work while the service runs."""
    state = build_state(settings or load_settings(apps), apps, demo=demo, background=background)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if state.background is not None:
            state.background.start()
        sampler = start_sampling(state.history, METRICS, [spec.name for spec in state.apps])
        try:
            yield
        finally:
            sampler.stop()
            state.close()

    app = ServiceApp(
        title="skybridge",
        version=state.version,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url=None,  # /openapi.json and /docs: server.docs
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(announced_body_fits)],
        default_response_class=ServiceJSONResponse,
    )
    app.state.skybridge = state
    install_limits(app, state.settings.server)
    app.add_middleware(observe.AccessLogMiddleware)
    install_error_handlers(app)
    install_site(app)
    app.include_router(observe.public)
    app.include_router(api.router)
    app.include_router(history_api.router)
    _mount_apps(app, state)
    app.include_router(dashboard.ui)
    app.include_router(streams_page.ui)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_docs(app)
    return app

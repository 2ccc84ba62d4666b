"""The app plug-in protocol: how a capability joins the HTTP service, the dashboard and the CLI.

A capability package (``skybridge.apps.secretsync``, or a third-party distribution) describes
itself with one :class:`AppSpec`:

* ``router(context)`` returns a FastAPI ``APIRouter``; the service mounts it under
  ``/api/<name>`` behind token authentication;
* ``page(context)`` returns the HTML of its dashboard page (a fragment placed inside the
  dashboard layout, escaped by the app) or an :class:`AppPage` naming a Jinja2 template; the
  service serves it at ``/ui/<name>`` and adds it to the navigation;
* ``page_action(context, form)`` handles a dashboard form POSTed to ``/ui/<name>`` (the
  service checks its CSRF field first; templates get the token as ``csrf``) and returns the
  page to show, like ``page``;
* ``cli`` is a Typer group the ``skybridge`` command adds as ``skybridge <cli_name> ...``
  (``cli_name`` defaults to ``name``);
* ``demo(settings)`` seeds demo data when ``skybridge up --demo`` starts (``settings`` point at
  the embedded demo backends); it must be idempotent.

Built-in apps are listed by module name in :data:`BUILTIN_APPS` and imported lazily; each such
module exposes ``APP: AppSpec``. Other distributions register an entry point in the group
``skybridge.apps`` whose value is an ``AppSpec`` (or a callable returning one).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from skybridge.core.errors import ConfigError, Conflict

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from skybridge.core.backend import Backend
    from skybridge.core.config import Settings

#: Module names of the apps shipped with skybridge; each module defines ``APP: AppSpec``.
BUILTIN_APPS: list[str] = ["skybridge.apps.assertions", "skybridge.apps.secretsync"]

#: Entry-point group third-party distributions use to add apps.
ENTRY_POINT_GROUP = "skybridge.apps"

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


@dataclass(frozen=True)
class ServiceContext:
    """What an app receives from the service that hosts it."""

    settings: Settings

    def backend_url(self, name: str) -> str:
        """The configured URL of backend ``name`` (``kv``, ``objects``, ``streams``...)."""
        urls = self.settings.backends.named()
        if name not in urls:
            raise ConfigError(
                f"no backend named '{name}' is configured", setting=f"backends.{name}"
            )
        return urls[name]

    def connect(self, family: str, **options: Any) -> Backend:
        """Connect the configured backend of ``family``; the caller closes it (``with``)."""
        module = importlib.import_module(f"skybridge.backends.{family}")
        backend: Backend = module.connect(
            self.backend_url(family), setting=f"backends.{family}", **options
        )
        return backend


@dataclass(frozen=True)
class AppPage:
    """A dashboard page rendered from a template shipped in the app's package.

    ``template`` is a file name under ``<package>/templates/``; the rendered HTML is placed
    inside the dashboard layout. Templates are auto-escaped.
    """

    package: str
    template: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AppSpec:
    """How one capability plugs into the service, the dashboard and the CLI."""

    name: str
    title: str
    description: str
    router: Callable[[ServiceContext], APIRouter] | None = None
    page: Callable[[ServiceContext], str | AppPage] | None = None
    cli: typer.Typer | None = None
    cli_name: str | None = None
    page_action: Callable[[ServiceContext, Mapping[str, str]], str | AppPage] | None = None
    demo: Callable[[Settings], None] | None = None

    @property
    def command(self) -> str:
        """The name of the app's CLI group: ``cli_name``, else ``name``."""
        return self.cli_name or self.name

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"app name {self.name!r} must be lowercase letters, digits and dashes",
                setting=ENTRY_POINT_GROUP,
            )
        if self.cli_name is not None and not _NAME.match(self.cli_name):
            raise ConfigError(
                f"app command {self.cli_name!r} must be lowercase letters, digits and dashes",
                setting=ENTRY_POINT_GROUP,
            )


def _as_spec(obj: object, origin: str) -> AppSpec:
    spec = obj() if callable(obj) and not isinstance(obj, AppSpec) else obj
    if not isinstance(spec, AppSpec):
        raise ConfigError(f"{origin} does not provide an AppSpec", setting=ENTRY_POINT_GROUP)
    return spec


def _module_app(module: str) -> object:
    return getattr(importlib.import_module(module), "APP", None)


def discover_apps(modules: list[str] | None = None) -> list[AppSpec]:
    """Every installed app: the built-in modules, then the ``skybridge.apps`` entry points.

    Raises:
        Conflict: two apps claim the same name.
        ConfigError: a module or entry point does not provide an ``AppSpec``.
    """
    found: dict[str, tuple[AppSpec, str]] = {}
    candidates: list[tuple[str, Callable[[], object]]] = [
        (name, partial(_module_app, name))
        for name in (BUILTIN_APPS if modules is None else modules)
    ]
    if modules is None:
        candidates += [(ep.value, ep.load) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for origin, load in candidates:
        spec = _as_spec(load(), origin)
        if spec.name in found:
            raise Conflict(
                f"app '{spec.name}' is provided by both {found[spec.name][1]} and {origin}"
            )
        found[spec.name] = (spec, origin)
    return [spec for spec, _ in found.values()]

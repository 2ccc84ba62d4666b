"""The app manifest: everything an app is, declared in one :class:`AppSpec`.

An app is one folder under ``skybridge/apps/`` (or a third-party distribution) whose
``manifest.py`` defines ``APP = AppSpec(...)``. Every part is a lazy reference, a
``"module:attribute"`` string imported only when a surface uses that part, so reading every
manifest (``skybridge --help``) imports no app implementation::

    APP = AppSpec(
        name="secretsync",
        title="Secret sync",
        description="Sync secrets between stores.",
        config="skybridge.apps.secretsync.config:SecretSyncConfig",
        cli="skybridge.apps.secretsync.cli:secrets_app",
        cli_name="secrets",
        router="skybridge.apps.secretsync.router:build_router",
        pipelines={"events": "skybridge.apps.secretsync.pipeline:build_pipeline"},
    )

What each reference resolves to (``ctx`` is the app's :class:`~.context.AppContext`):

========================  ========================================================
``config``                a pydantic model: the app's ``[name]`` section in skybridge.toml
``cli``                   a ``typer.Typer`` group, run as ``skybridge <cli_name> ...``
``router``                ``(ctx) -> fastapi.APIRouter``, mounted at ``/api/<name>``
``page``                  ``(ctx) -> str | AppPage``, served at ``/ui/<name>``; with
                          ``page_query``, ``(ctx, query) -> ...``: ``query`` holds the GET
                          parameters it names that the request carries (text, at most
                          :data:`QUERY_VALUE_MAX` characters each, checked by the server)
``page_action``           ``(ctx, form) -> str | AppPage`` for forms posted to ``/ui/<name>``
``page_confirm``          ``(ctx, form) -> str | Confirmation | None``: the question a posted
                          form must be confirmed with before ``page_action`` runs it (what it
                          will change, in numbers; a ``Confirmation`` also carries fields back,
                          such as a digest of the plan asked about), or ``None``: run at once
``pipelines[n]``          ``(ctx) -> Pipeline``, run by ``skybridge worker`` and ``skybridge up``
``services[n]``           ``(ctx, stop: threading.Event) -> None``: background work until ``stop``
``jobs[n]``               ``(ctx) -> ScheduledJob``: interval or cron work, once per tick
``demo``                  ``(ctx) -> None``: idempotent demo data for ``skybridge up --demo``
                          (before the service starts; with ``demo_background``, in the
                          background once it is up: for a seed that loads a model)
``demo_services[n]``      like ``services``, run only by ``skybridge up --demo``
``handlers[n]``           cloud-function entry points (``aws-lambda``, ``oci-functions``...)
========================  ========================================================

``backend_probes`` is ``(ctx) -> Mapping[str, tuple[str, str]]``: more backend URLs to probe,
by the name shown for each (``secretsync.table.aws``), with their family and URL, e.g. those of
a file the app reads; ``skybridge check`` and the Backends page probe them too.
``backends`` names the backend families the app uses; a family skybridge's core does not define
(``vectors``, ``embeddings``...) comes with its embedded default URL (``{data_dir}`` allowed).
``backend_settings`` maps the keys of the app's section that hold a backend URL of their own
(``online`` of features) to its family (``kv``; ``sql`` for a database), a table of URLs by name
too (``sources`` of costs): ``skybridge check`` and the Backends page probe them when set.
``page_query`` names the GET parameters the page reads (``series``, ``q``): what it shows
(a filter, a chosen item) is then a link that can be bookmarked, reloaded and shared, where a
form posted to show it is not; forms that change something still POST.
``sql_tables`` names the tables the app keeps in ``backends.sql`` as its own state
(``anomaly_incidents``): SQL a user sends over HTTP (an assertion) may not read or guard them.
``scopes`` names the permissions the app's routes and page actions need, with the role that
grants each by default (``read``, ``operate`` or ``admin``); every route declares its scope
with :func:`skybridge.apps.kit.access.requires`, and ``page_scopes`` maps each page action
(the form's ``action`` field) to one. Showing the page needs ``<name>:read``. ``demo_try``
lists a command or two of the app to try on the demo data (``skybridge <command> ...``);
``skybridge up --demo`` prints them once the service is up.

Any reference may also be the object itself (tests, embedding) instead of a string.
"""

from __future__ import annotations

import configparser
import importlib
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any, Literal

from skybridge.core.errors import ConfigError, Conflict

#: Entry-point group third-party distributions use to add apps (value: ``module:APP``).
ENTRY_POINT_GROUP = "skybridge.apps"
#: Roles a token can hold, weakest first; each includes the ones before it.
ROLES: tuple[str, ...] = ("read", "operate", "admin")
Role = Literal["read", "operate", "admin"]
#: A lazy ``"module:attribute"`` reference, or the object itself.
Ref = str | object

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
#: App names that would name skybridge's own scopes (``auth.scopes.CORE_SCOPES``:
#: ``tokens:manage``...), kept here so that reading a manifest imports nothing of ``auth``.
CORE_SCOPE_PREFIXES = frozenset({"service", "streams", "tokens"})
#: The longest value of a page's GET parameter (``page_query``); longer is refused (422).
QUERY_VALUE_MAX = 500
_PART = re.compile(r"^[a-z][a-z0-9_-]{0,47}$")
_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9-]*:[a-z][a-z0-9-]*$")
_SINGLE = (
    "config",
    "cli",
    "router",
    "page",
    "page_action",
    "page_confirm",
    "demo",
    "backend_probes",
)
_NAMED = ("pipelines", "services", "jobs", "demo_services", "handlers")


def resolve(ref: Ref, *, where: str) -> Any:
    """The object ``ref`` names (imported now), or ``ref`` itself when it is not a string.

    Raises:
        ConfigError: the module cannot be imported or has no such attribute (``where`` says
            which part of which app referenced it).
    """
    if not isinstance(ref, str):
        return ref
    module_name, _, attribute = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"{where}: cannot import {module_name!r} ({exc})",
            setting=ENTRY_POINT_GROUP,
            hint="install the app's dependencies, or fix the reference in its manifest",
        ) from exc
    for name in attribute.split("."):
        if not hasattr(target, name):
            raise ConfigError(f"{where}: {module_name!r} has no attribute {attribute!r}")
        target = getattr(target, name)
    return target


@dataclass(frozen=True)
class AppSpec:
    """How one capability plugs into skybridge: config, CLI, HTTP, dashboard and background."""

    name: str
    title: str
    description: str
    config: Ref | None = None
    backends: Mapping[str, str | None] = field(default_factory=dict)
    backend_settings: Mapping[str, str] = field(default_factory=dict)
    backend_probes: Ref | None = None
    cli: Ref | None = None
    cli_name: str | None = None
    router: Ref | None = None
    page: Ref | None = None
    page_action: Ref | None = None
    page_confirm: Ref | None = None
    pipelines: Mapping[str, Ref] = field(default_factory=dict)
    services: Mapping[str, Ref] = field(default_factory=dict)
    jobs: Mapping[str, Ref] = field(default_factory=dict)
    demo: Ref | None = None
    demo_background: bool = False
    demo_services: Mapping[str, Ref] = field(default_factory=dict)
    handlers: Mapping[str, Ref] = field(default_factory=dict)
    scopes: Mapping[str, Role] = field(default_factory=dict)
    page_scopes: Mapping[str, str] = field(default_factory=dict)
    sql_tables: Sequence[str] = ()
    demo_try: Sequence[str] = ()
    page_query: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "demo_try", tuple(self.demo_try))
        object.__setattr__(self, "sql_tables", tuple(self.sql_tables))
        object.__setattr__(self, "page_query", tuple(self.page_query))
        for key in self.page_query:
            self._check_part_name("page_query", key)
        for table in self.sql_tables:
            if not _TABLE.match(table):
                raise ConfigError(
                    f"app '{self.name}': sql table {table!r} must be a lowercase SQL name "
                    "(letters, digits and underscores, starting with a letter)",
                    setting=ENTRY_POINT_GROUP,
                )
        for line in self.demo_try:
            if not line.startswith(f"skybridge {self.command} "):
                raise ConfigError(
                    f"app '{self.name}': demo_try line {line!r} must be a command of the app, "
                    f"'skybridge {self.command} ...'",
                    setting=ENTRY_POINT_GROUP,
                )
        for label, value in (("name", self.name), ("command", self.cli_name)):
            if value is not None and not _NAME.match(value):
                raise ConfigError(
                    f"app {label} {value!r} must be lowercase letters, digits and dashes "
                    "(at most 32, starting with a letter)",
                    setting=ENTRY_POINT_GROUP,
                )
        if self.name in CORE_SCOPE_PREFIXES:
            raise ConfigError(
                f"app name {self.name!r} is taken by skybridge's own scopes "
                f"({', '.join(sorted(CORE_SCOPE_PREFIXES))}:...)",
                setting=ENTRY_POINT_GROUP,
                hint="choose another app name",
            )
        for part in _SINGLE:
            self._check_ref(part, getattr(self, part))
        for group in _NAMED:
            for key, ref in getattr(self, group).items():
                self._check_part_name(group, key)
                self._check_ref(f"{group}.{key}", ref)
        for family in self.backends:
            self._check_part_name("backends", family)
        for key, family in self.backend_settings.items():
            self._check_part_name("backend_settings", key)
            self._check_part_name("backend_settings", family)
        self._check_scopes()
        for action, scope in self.page_scopes.items():
            if scope not in self.scopes:
                raise ConfigError(
                    f"app '{self.name}': page action {action!r} needs {scope!r}, which is not "
                    "one of its scopes",
                    setting=ENTRY_POINT_GROUP,
                )

    def _check_ref(self, part: str, ref: Ref | None) -> None:
        if isinstance(ref, str) and not _REF.match(ref):
            raise ConfigError(
                f"app '{self.name}': {part} reference {ref!r} is not 'module:attribute'",
                setting=ENTRY_POINT_GROUP,
            )

    def _check_part_name(self, group: str, key: str) -> None:
        if not _PART.match(key):
            raise ConfigError(
                f"app '{self.name}': {group} name {key!r} must be lowercase letters, digits, "
                "dashes and underscores",
                setting=ENTRY_POINT_GROUP,
            )

    def _check_scopes(self) -> None:
        for scope, role in self.scopes.items():
            if not _SCOPE.match(scope) or not scope.startswith(f"{self.name}:"):
                raise ConfigError(
                    f"app '{self.name}': scope {scope!r} must look like '{self.name}:<action>'",
                    setting=ENTRY_POINT_GROUP,
                )
            if role not in ROLES:
                raise ConfigError(
                    f"app '{self.name}': scope {scope!r} names role {role!r}; "
                    f"use one of {', '.join(ROLES)}",
                    setting=ENTRY_POINT_GROUP,
                )

    @property
    def page_scope(self) -> str:
        """The scope that shows the app's page: ``<name>:read`` when declared."""
        own = f"{self.name}:read"
        return own if own in self.scopes else "service:read"

    @property
    def command(self) -> str:
        """The name of the app's CLI group: ``cli_name``, else ``name``."""
        return self.cli_name or self.name

    def load(self, part: str) -> Any:
        """Resolve one single part (``config``, ``cli``, ``router``...); ``None`` if absent."""
        if part not in _SINGLE:
            raise ValueError(f"{part!r} is not a single part of an app")
        ref = getattr(self, part)
        return None if ref is None else resolve(ref, where=f"app '{self.name}' {part}")

    def load_named(self, group: str, key: str) -> Any:
        """Resolve ``pipelines[key]``, ``services[key]``, ``jobs[key]``..."""
        refs: Mapping[str, Ref] = getattr(self, group)
        if key not in refs:
            raise ConfigError(f"app '{self.name}' has no {group} entry {key!r}")
        return resolve(refs[key], where=f"app '{self.name}' {group}.{key}")

    def references(self) -> dict[str, Ref]:
        """Every reference of the manifest by part (``router``, ``pipelines.events``...)."""
        found: dict[str, Ref] = {p: getattr(self, p) for p in _SINGLE if getattr(self, p)}
        for group in _NAMED:
            found.update({f"{group}.{k}": ref for k, ref in getattr(self, group).items()})
        return found


def _as_spec(obj: object, origin: str) -> AppSpec:
    spec = obj() if callable(obj) and not isinstance(obj, AppSpec) else obj
    if not isinstance(spec, AppSpec):
        raise ConfigError(f"{origin} does not provide an AppSpec", setting=ENTRY_POINT_GROUP)
    return spec


def builtin_manifests() -> list[str]:
    """The manifest modules of the apps shipped in ``skybridge.apps`` (one per subpackage)."""
    import skybridge.apps

    return [
        f"skybridge.apps.{info.name}.manifest"
        for info in sorted(pkgutil.iter_modules(skybridge.apps.__path__), key=lambda i: i.name)
        if info.ispkg and info.name != "kit"
    ]


def _module_app(module: str) -> object:
    return getattr(importlib.import_module(module), "APP", None)


def entry_point_refs(group: str = ENTRY_POINT_GROUP) -> list[str]:
    """The values (``module:attr``) of the entry points in ``group`` of installed distributions.

    The same answer as ``importlib.metadata.entry_points(group=...)`` (the first distribution
    of a name on ``sys.path`` wins), read straight from the ``*.dist-info`` folders: it opens
    only ``entry_points.txt`` files and parses only those naming the group, which keeps
    ``skybridge --help`` fast in environments with hundreds of packages.
    """
    seen: set[str] = set()
    refs: list[str] = []
    for folder in sys.path:
        try:
            entries = sorted(os.scandir(folder or "."), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.name.endswith((".dist-info", ".egg-info")):
                continue
            project = _normalized(entry.name.rsplit(".", 1)[0].rsplit("-", 1)[0])
            if project in seen:
                continue
            seen.add(project)
            refs += _group_values(os.path.join(entry.path, "entry_points.txt"), group)
    return refs


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _group_values(path: str, group: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return []
    if f"[{group}]" not in text:
        return []
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return [value.strip() for value in parser[group].values()] if group in parser else []


def _candidates(modules: list[str] | None) -> list[tuple[str, Callable[[], object]]]:
    names = builtin_manifests() if modules is None else modules
    found: list[tuple[str, Callable[[], object]]] = [
        (name, partial(_module_app, name)) for name in names
    ]
    if modules is None:
        found += [
            (ref, partial(resolve, ref, where=f"entry point {ref!r}")) for ref in entry_point_refs()
        ]
    return found


def load_apps(modules: list[str] | None = None) -> list[AppSpec]:
    """Every installed app: the built-in manifests, then the ``skybridge.apps`` entry points.

    Raises:
        Conflict: two apps claim the same name or command.
        ConfigError: a module or entry point does not provide an ``AppSpec``.
    """
    by_name: dict[str, str] = {}
    by_command: dict[str, str] = {}
    apps: list[AppSpec] = []
    for origin, load in _candidates(modules):
        spec = _as_spec(load(), origin)
        for seen, key in ((by_name, spec.name), (by_command, spec.command)):
            if key in seen:
                raise Conflict(f"app '{key}' is provided by both {seen[key]} and {origin}")
            seen[key] = origin
        apps.append(spec)
    return apps


@cache
def _installed() -> tuple[AppSpec, ...]:
    return tuple(load_apps())


def discover_apps() -> list[AppSpec]:
    """The installed apps (read once per process; :func:`forget_apps` reads them again)."""
    return list(_installed())


def forget_apps() -> None:
    """Forget the discovered apps, so the next :func:`discover_apps` looks again (tests)."""
    _installed.cache_clear()


def find_app(apps: list[AppSpec], name: str) -> AppSpec:
    """The app called ``name`` (or whose command is ``name``)."""
    for spec in apps:
        if name in (spec.name, spec.command):
            return spec
    known = ", ".join(sorted(spec.name for spec in apps)) or "none installed"
    raise ConfigError(f"no app called {name!r}", hint=f"installed apps: {known}")

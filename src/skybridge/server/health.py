"""Probing the configured backends, for ``skybridge check``, ``/api/backends`` and the dashboard.

Each backend named under ``[backends]`` is built by its family's ``connect`` (the family package is
``skybridge.backends.<name>``) and pinged; ``sql`` is an SQLAlchemy engine asked ``SELECT 1``.
Probes run concurrently, each bounded by a timeout, so one dead server does not stall the page.
This module imports no web framework, so the CLI can use it without the ``server`` extra.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from skybridge.apps.kit.manifest import AppSpec
from skybridge.core.config import Settings
from skybridge.core.errors import (
    ConfigError,
    MissingDependency,
    SkybridgeError,
    TransientError,
    ValidationError,
)
from skybridge.core.locations import hide_locations
from skybridge.core.memo import Shared
from skybridge.core.observability import get_logger
from skybridge.core.secret import scrub
from skybridge.core.urls import mask_url

log = get_logger(__name__)

Status = Literal["ok", "unreachable", "misconfigured"]
_BAD_SETTING = (ConfigError, MissingDependency, ValidationError)
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class BackendStatus:
    """The outcome of probing one configured backend."""

    name: str
    setting: str
    scheme: str
    url: str
    status: Status
    latency_ms: float | None = None
    error: str | None = None
    message: str | None = None
    hint: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _ping_sql(url: str, setting: str = "backends.sql") -> None:
    from skybridge.backends.sql import create_sql_engine

    engine = create_sql_engine(url, setting=setting)
    query = "SELECT 1 FROM DUAL" if engine.dialect.name == "oracle" else "SELECT 1"
    try:
        with engine.connect() as conn:
            conn.execute(text(query))
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise TransientError(f"database unreachable: {reason}") from None
    finally:
        engine.dispose()


def _ping_family(name: str, url: str, setting: str | None = None) -> None:
    module_name = f"skybridge.backends.{name}"
    setting = setting or f"backends.{name}"
    try:
        family = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise ConfigError(f"there is no backend family called '{name}'", setting=setting) from None
    backend = family.connect(url, setting=setting)
    try:
        backend.ping()
    finally:
        backend.close()


def _unprobed(name: str, url: str, setting: str) -> BackendStatus:
    return BackendStatus(
        name=name,
        setting=setting,
        scheme=url.partition("://")[0],
        url=mask_url(url),
        status="ok",
    )


def probe(
    name: str, url: str, *, family: str | None = None, setting: str | None = None
) -> BackendStatus:
    """Connect to backend ``name`` at ``url`` and ping it once. An app's own setting
    (``features.online``) gives its ``family`` (``kv``) and ``setting`` (its name)."""
    family = family or name
    base = _unprobed(name, url, setting or f"backends.{name}")
    started = time.perf_counter()
    try:
        if family == "sql":
            _ping_sql(url, base.setting)
        else:
            _ping_family(family, url, base.setting)
    except _BAD_SETTING as exc:
        status: Status = "misconfigured"
        failure: BaseException = exc
    except Exception as exc:
        status, failure = "unreachable", exc
    else:
        latency = round((time.perf_counter() - started) * 1000, 2)
        return replace(base, latency_ms=latency)
    if not isinstance(failure, SkybridgeError):
        log.warning("backend.probe_failed", backend=name, error=type(failure).__name__)
    message = failure.message if isinstance(failure, SkybridgeError) else str(failure)
    return replace(
        base,
        status=status,
        error=type(failure).__name__,
        message=scrub(message.replace(url, base.url)),
        hint=getattr(failure, "hint", None),
    )


def _preload(name: str, url: str) -> None:
    """Import the backend's implementation in this thread: CPython 3.11 can fail compiling
    modules in several threads at once ("AST constructor recursion depth mismatch"), and a
    fresh checkout has no bytecode yet. Errors are left for the probe to report."""
    try:
        family = importlib.import_module(f"skybridge.backends.{name}")
        family.registry.resolve(url.partition("://")[0])
    except Exception:  # noqa: S110 - the probe reports it with the setting's name
        pass


def app_backends(settings: Settings, apps: Sequence[AppSpec]) -> dict[str, tuple[str, str]]:
    """The backend URLs set in the apps' own sections (``AppSpec.backend_settings``), by
    setting (``features.online``, ``costs.sources.aws``): their family and URL."""
    found: dict[str, tuple[str, str]] = {}
    for app in apps:
        section = settings.section(app.name)
        for key, family in app.backend_settings.items():
            value = getattr(section, key, None)
            if isinstance(value, str) and value:
                found[f"{app.name}.{key}"] = (family, value)
            elif isinstance(value, Mapping):
                for name, url in sorted(value.items()):
                    if isinstance(url, str) and url:
                        found[f"{app.name}.{key}.{name}"] = (family, url)
        if app.backend_probes is not None:
            found.update(_app_probes(app, settings))
    return found


def _app_probes(app: AppSpec, settings: Settings) -> Mapping[str, tuple[str, str]]:
    """The backends an app names through its ``backend_probes`` (a file it reads, say); none
    when it cannot tell (its own commands report why: a missing or invalid file)."""
    from skybridge.apps.kit.context import AppContext

    try:
        probes: Mapping[str, tuple[str, str]] = app.load("backend_probes")(
            AppContext.create(app, settings)
        )
    except SkybridgeError as exc:
        log.info("backend.probes_unknown", app=app.name, error=type(exc).__name__)
        return {}
    return probes


def probe_all(
    settings: Settings, *, timeout: float = DEFAULT_TIMEOUT, apps: Sequence[AppSpec] = ()
) -> list[BackendStatus]:
    """Probe every configured backend concurrently, then the backend URLs set in ``apps``'
    sections; a probe slower than ``timeout`` fails."""
    # name -> (family, URL, setting): each backend, then each URL an app's section holds
    targets = {
        name: (name, url, f"backends.{name}") for name, url in settings.backends.named().items()
    }
    for name, (family, url) in app_backends(settings, apps).items():
        targets[name] = (family, url, name)
    if not targets:
        return []
    for family, url, _ in targets.values():
        if family != "sql":
            _preload(family, url)
    pool = ThreadPoolExecutor(max_workers=len(targets), thread_name_prefix="skybridge-probe")
    futures: dict[str, Future[BackendStatus]] = {
        name: pool.submit(probe, name, url, family=family, setting=setting)
        for name, (family, url, setting) in targets.items()
    }
    deadline = time.monotonic() + timeout
    results = []
    for name, future in futures.items():
        try:
            results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout:
            results.append(
                replace(
                    _unprobed(name, *targets[name][1:]),
                    status="unreachable",
                    error="Timeout",
                    message=f"no answer within {timeout:g} s",
                )
            )
    pool.shutdown(wait=False, cancel_futures=True)
    return results


def without_locations(statuses: Sequence[BackendStatus], data_dir: Path) -> list[BackendStatus]:
    """``statuses`` as shown to a caller without ``service:locations``: where files live on
    the host is left out (:func:`skybridge.core.locations.hide_locations`), the rest kept."""

    def hide(text: str | None) -> str | None:
        return None if text is None else hide_locations(text, data_dir)

    return [
        replace(s, url=hide_locations(s.url, data_dir), message=hide(s.message), hint=hide(s.hint))
        for s in statuses
    ]


#: The round of probes running per settings and apps (:func:`probe_shown`).
_ROUNDS: Shared[tuple[int, tuple[str, ...]], list[BackendStatus]] = Shared()


def probe_shown(
    settings: Settings, *, apps: Sequence[AppSpec] = (), hidden: Path | None
) -> list[BackendStatus]:
    """:func:`probe_all` as a caller sees it: without file locations when ``hidden`` (the
    data folder, for a caller without the ``service:locations`` scope).

    Requests arriving while a round of probes runs share its answer: a burst of page views
    makes one round, not one per request (each opened a connection to every backend)."""
    key = (id(settings), tuple(app.name for app in apps))
    statuses = _ROUNDS.call(key, lambda: probe_all(settings, apps=apps))
    return list(statuses) if hidden is None else without_locations(statuses, hidden)

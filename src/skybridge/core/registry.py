"""Backend registry: URL scheme -> dotted path -> install hint, imported lazily.

Each family owns one :class:`Registry` (``skybridge.backends.kv.registry``) and lists its built-in
implementations there. Third parties add schemes through the entry-point group
``skybridge.backends.<family>`` (name = scheme, value = ``module:Class``). Two claims on one
scheme are refused.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar, cast

from skybridge.core.backend import Backend
from skybridge.core.errors import ConfigError, Conflict, MissingDependency
from skybridge.core.observability import get_logger
from skybridge.core.urls import BackendURL, mask_url

log = get_logger(__name__)

B = TypeVar("B", bound=Backend)


@dataclass(frozen=True)
class Implementation:
    scheme: str
    target: str
    extra: str | None = None
    origin: str = "skybridge"


class Registry(Generic[B]):
    """The implementations of one backend family, by URL scheme."""

    def __init__(self, family: str, base: type[Backend]) -> None:
        # ``base`` is usually abstract, which mypy refuses for ``type[B]``; annotate the
        # registry instead: ``registry: Registry[KeyValueStore] = Registry("kv", KeyValueStore)``.
        self.family = family
        self.base = base
        self._impls: dict[str, Implementation] = {}
        self._entry_points_loaded = False
        #: Schemes two claimants want (an entry point's against another's), or a malformed
        #: plug-in names: resolving one raises why; every other scheme works.
        self._contested: dict[str, tuple[type[Conflict | ConfigError], str]] = {}
        self._lock = threading.Lock()
        self._loading = threading.Lock()

    @property
    def entry_point_group(self) -> str:
        return f"skybridge.backends.{self.family}"

    def register(
        self, scheme: str, target: str, *, extra: str | None = None, origin: str = "skybridge"
    ) -> None:
        """Claim ``scheme`` for the class at ``target`` (``package.module:Class``)."""
        scheme = scheme.lower()
        if ":" not in target:
            raise ValueError(f"target must be 'module:Class', got {target!r}")
        with self._lock:
            existing = self._impls.get(scheme)
            if existing is not None and existing.target != target:
                raise Conflict(
                    f"{self.family} scheme '{scheme}://' is already claimed by "
                    f"{existing.target} ({existing.origin}); {origin} cannot claim it too"
                )
            self._impls[scheme] = Implementation(scheme, target, extra, origin)

    def _load_entry_points(self) -> None:
        """Register the installed plug-ins' schemes, once, before any is looked up (a caller
        arriving during the load waits for it)."""
        if self._entry_points_loaded:
            return
        with self._loading:
            if self._entry_points_loaded:
                return
            try:
                found = list(entry_points(group=self.entry_point_group))
            except Exception as exc:  # broken package metadata: the built-in schemes still work
                log.warning("registry.entry_points_unreadable", family=self.family, error=str(exc))
                found = []
            for ep in found:
                origin = ep.dist.name if ep.dist is not None else "entry point"
                try:
                    self.register(ep.name, ep.value, origin=origin)
                except Conflict as exc:
                    self._contested[ep.name.lower()] = (Conflict, str(exc))
                except ValueError as exc:  # not 'module:Class'
                    self._contested[ep.name.lower()] = (
                        ConfigError,
                        f"{self.family} plug-in {ep.name!r} of {origin} is malformed: {exc}",
                    )
            self._entry_points_loaded = True

    def schemes(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._impls)

    def resolve(self, scheme: str) -> type[B]:
        """Import and return the class registered for ``scheme``."""
        self._load_entry_points()
        if (contested := self._contested.get(scheme.lower())) is not None:
            kind, why = contested
            raise kind(why)
        impl = self._impls.get(scheme.lower())
        if impl is None:
            known = ", ".join(f"{s}://" for s in self.schemes())
            raise ConfigError(
                f"no {self.family} backend for scheme '{scheme}://'",
                hint=f"use one of {known}",
            )
        module_name, _, attr = impl.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").split(".")[0]
            if impl.extra and missing and missing != "skybridge":
                raise MissingDependency(
                    missing, impl.extra, feature=f"the {scheme}:// {self.family} backend"
                ) from exc
            raise
        cls = getattr(module, attr)
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise ConfigError(f"{impl.target} is not a {self.base.__name__}")
        return cast("type[B]", cls)

    def _caller_setting(self, found: str | None, given: str | None) -> str | None:
        """The setting an error names: a backend names its family's own setting
        (``backends.secrets``, or ``backends.streams.checkpoints`` for an option of its URL),
        which is the caller's ``given`` one (``features.online``...) when another setting
        holds the URL."""
        default = f"backends.{self.family}"
        if given is None or found is None:
            return found or given
        if found == default or found.startswith(default + "."):
            return given + found.removeprefix(default)
        return found

    def connect(self, url: str, *, setting: str | None = None, **options: Any) -> B:
        """Build a backend from ``url``. ``setting`` names the config key in errors."""
        parsed = BackendURL.parse(url, setting=setting)
        try:
            cls = self.resolve(parsed.scheme)
            if not cls.url_credentials and parsed.password is not None:
                raise ConfigError(
                    f"'{mask_url(url)}' holds a password, but {parsed.scheme}:// takes no "
                    "login in its URL",
                    setting=setting,
                    hint=f"remove user:password@ from the URL; {parsed.scheme}:// reads "
                    "its credentials elsewhere (its SDK's profile, environment or config file, "
                    "or its own URL options)",
                )
            return cls.from_url(parsed, **options)
        except ConfigError as exc:
            exc.setting = self._caller_setting(exc.setting, setting)
            raise
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"cannot use {self.family} backend '{mask_url(url)}': {exc}", setting=setting
            ) from None

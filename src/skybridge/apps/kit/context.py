"""``AppContext``: what an app's parts receive from the surface that runs them.

Apps never build settings or backends themselves: the context carries the loaded settings, the
app's typed ``[section]`` and connects backends by family, by the configured URL::

    def build_router(ctx: AppContext[SecretSyncConfig]) -> APIRouter:
        attempts = ctx.config.attempts
        with ctx.connect("kv") as store:
            ...
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, cast, overload

from pydantic import BaseModel

from skybridge.apps.kit.manifest import AppSpec, discover_apps, find_app
from skybridge.apps.kit.settings import NoConfig, app_config, load_settings
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from skybridge.backends.functions import FunctionPlatform
    from skybridge.backends.kv import KeyValueStore
    from skybridge.backends.notify import Notifier
    from skybridge.backends.objects import ObjectStore
    from skybridge.backends.secrets import SecretStore
    from skybridge.backends.streams import StreamBackend
    from skybridge.core.backend import Backend

ConfigT = TypeVar("ConfigT", bound=BaseModel)
__all__ = ["DEMO_TOKEN_FILE", "AppContext", "ConfigT", "NoConfig"]
#: The file in the data folder keeping ``skybridge up --demo``'s token: it marks a folder the
#: demo seeded (see :attr:`AppContext.demo_data`).
DEMO_TOKEN_FILE = "demo-token"  # noqa: S105 - a file name


@dataclass(frozen=True)
class AppContext(Generic[ConfigT]):
    """One app's view of the running skybridge: settings, its section, its backends."""

    app: AppSpec
    settings: Settings
    config: ConfigT
    #: True under ``skybridge up --demo`` (demo data and demo services).
    demo: bool = False

    @classmethod
    def create(cls, app: AppSpec, settings: Settings, *, demo: bool = False) -> AppContext[Any]:
        """The context of ``app``: its section is taken from ``settings`` (validated there)."""
        return AppContext(app, settings, app_config(app, settings), demo)

    @classmethod
    def of(cls, name: str, *, demo: bool = False) -> AppContext[Any]:
        """The context of the installed app ``name`` under the settings of ``skybridge.toml``
        and the environment, as its CLI commands get it: ``AppContext.of("datasync")``."""
        apps = discover_apps()
        return cls.create(find_app(apps, name), load_settings(apps), demo=demo)

    @property
    def name(self) -> str:
        return self.app.name

    @property
    def demo_data(self) -> bool:
        """Whether the demo's defaults apply (its budgets, its batch sync): under ``skybridge
        up --demo``, and in a data folder the demo seeded, so the CLI run beside a demo sees
        what the demo serves. Demo services (producers, rotations) run only under ``--demo``."""
        return self.demo or (self.data_dir / DEMO_TOKEN_FILE).is_file()

    @property
    def data_dir(self) -> Path:
        """Where embedded backends and local files live (``settings.data_dir``)."""
        return Path(self.settings.data_dir)

    def backend_url(self, family: str) -> str:
        """The configured URL of backend ``family`` (``kv``, ``streams``, ``vectors``...)."""
        urls = self.settings.backends.named()
        if family in urls:
            return urls[family]
        default = self.app.backends.get(family)
        if default:
            return default.replace("{data_dir}", str(self.data_dir))
        raise ConfigError(
            f"no backend named '{family}' is configured", setting=f"backends.{family}"
        )

    @overload
    def connect(self, family: Literal["kv"], **options: Any) -> KeyValueStore: ...
    @overload
    def connect(self, family: Literal["streams"], **options: Any) -> StreamBackend: ...
    @overload
    def connect(self, family: Literal["secrets"], **options: Any) -> SecretStore: ...
    @overload
    def connect(self, family: Literal["objects"], **options: Any) -> ObjectStore: ...
    @overload
    def connect(self, family: Literal["notify"], **options: Any) -> Notifier: ...
    @overload
    def connect(self, family: Literal["functions"], **options: Any) -> FunctionPlatform: ...
    @overload
    def connect(self, family: str, **options: Any) -> Backend: ...

    def connect(self, family: str, **options: Any) -> Backend:
        """Connect the configured backend of ``family``; the caller closes it (``with``)."""
        module = importlib.import_module(f"skybridge.backends.{family}")
        url = self.backend_url(family)
        return cast("Backend", module.connect(url, setting=f"backends.{family}", **options))

    def sql_engine(self) -> Engine:
        """A SQLAlchemy engine on ``backends.sql``; the caller disposes it."""
        from skybridge.backends.sql import create_sql_engine

        return create_sql_engine(
            self.backend_url("sql"), setting="backends.sql", data_dir=self.data_dir
        )

"""Settings with the installed apps' sections: ``[secretsync]``, ``[assertions]``...

Each app's ``config`` model validates its section with core's precedence (explicit argument >
``SKYBRIDGE__<APP>__<KEY>`` > ``skybridge.toml``); a bad value is a ``ConfigError`` naming
``<app>.<key>``. Apps introduce backend families (``vectors``...) with embedded defaults.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from skybridge.apps.kit.manifest import AppSpec, discover_apps
from skybridge.core import config as core_config
from skybridge.core.config import Settings
from skybridge.core.errors import ConfigError


class NoConfig(BaseModel):
    """The section of an app that declares no settings: nothing may be set in it."""

    model_config = ConfigDict(extra="forbid")


def section_model(app: AppSpec) -> type[BaseModel] | None:
    """The app's config model, or ``None`` when it declares none."""
    model = app.load("config")
    if model is None:
        return None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise ConfigError(f"app '{app.name}' config is not a pydantic model", setting=app.name)
    return model


def app_sections(apps: list[AppSpec]) -> dict[str, type[BaseModel]]:
    """Section models of the apps that have one, by app name."""
    found = {app.name: section_model(app) for app in apps}
    return {name: model for name, model in found.items() if model is not None}


def backend_defaults(apps: list[AppSpec]) -> dict[str, str]:
    """Embedded default URLs of the backend families the apps introduce."""
    defaults: dict[str, str] = {}
    for app in apps:
        for family, url in app.backends.items():
            if url and family not in core_config.BackendsConfig.model_fields:
                defaults.setdefault(family, url)
    return defaults


def load_settings(apps: list[AppSpec] | None = None, **overrides: Any) -> Settings:
    """Settings with every installed app's section (``apps``: these apps instead)."""
    apps = discover_apps() if apps is None else apps
    return core_config.load_settings(
        sections=app_sections(apps), backend_defaults=backend_defaults(apps), **overrides
    )


def app_config(app: AppSpec, settings: Settings) -> BaseModel:
    """The validated ``[app]`` section from ``settings``.

    Settings loaded without this app's section (core's plain ``load_settings``) get it loaded
    now, from the same environment and file.
    """
    model = section_model(app)
    if model is None:
        return NoConfig()
    found = settings.section(app.name)
    if isinstance(found, model):
        return found
    section = core_config.load_settings(sections={app.name: model}).section(app.name)
    assert isinstance(section, model)
    return section

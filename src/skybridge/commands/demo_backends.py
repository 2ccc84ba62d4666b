"""Where ``skybridge up --demo`` keeps its data: every backend at its embedded default.

The demo replaces the ``[backends]`` URLs with the embedded ones under ``data_dir``, and so
every backend URL an app's own section holds (the keys its manifest lists in
``AppSpec.backend_settings``: ``features.online``, ``datasync.target``, ``costs.sources``...)
goes back to the default of the app's config model, which falls back to ``[backends]``. All of
the demo's data is then in ``data_dir``: none of it lands in an engine ``skybridge.toml`` or the
environment points at. :func:`set_aside` names the settings that did point elsewhere, so the
demo can say which it left out (names only: their URLs may hold credentials).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from skybridge.apps.kit.manifest import AppSpec
from skybridge.apps.kit.settings import section_model
from skybridge.core.config import Settings
from skybridge.core.private_files import private_dir

__all__ = ["demo_settings", "set_aside"]


def demo_settings(settings: Settings, apps: Sequence[AppSpec] = ()) -> Settings:
    """``settings`` with every backend at its embedded default under ``data_dir``: the
    ``[backends]``, and the backend settings of each of ``apps``' sections (``settings`` must
    carry those sections, as :func:`skybridge.apps.kit.settings.load_settings` loads them)."""
    root = private_dir(Path(settings.data_dir).resolve())
    backends = type(settings.backends).embedded(root)
    sections = {name: section for name, (section, _) in _app_resets(settings, apps).items()}
    return settings.model_copy(update={"data_dir": root, "backends": backends, **sections})


def set_aside(settings: Settings, apps: Sequence[AppSpec] = ()) -> list[str]:
    """The backend settings :func:`demo_settings` replaces because they point elsewhere than
    the embedded default (``backends.kv``, ``features.online``, ``costs.sources.aws``): their
    names, never their URLs."""
    configured = settings.backends.named()
    here = type(settings.backends).embedded(Path(settings.data_dir)).named()
    resolved = type(settings.backends).embedded(Path(settings.data_dir).resolve()).named()
    names = [
        f"backends.{family}"
        for family in sorted(set(configured) | set(here))
        if configured.get(family) not in (here.get(family), resolved.get(family))
    ]
    for _, changed in _app_resets(settings, apps).values():
        names += changed
    return names


def _app_resets(
    settings: Settings, apps: Sequence[AppSpec]
) -> dict[str, tuple[BaseModel, list[str]]]:
    """By app: its section with each backend setting at its default, and the names of the
    settings that held something else (only apps with such a setting appear)."""
    found: dict[str, tuple[BaseModel, list[str]]] = {}
    for spec in apps:
        model = section_model(spec) if spec.backend_settings else None
        if model is None:
            continue
        section = settings.section(spec.name)
        if not isinstance(section, model):
            raise ValueError(
                f"the settings carry no [{spec.name}] section: load them with the app's "
                "(skybridge.apps.kit.settings.load_settings)"
            )
        defaults: dict[str, Any] = {}
        changed: list[str] = []
        for key in spec.backend_settings:
            field = model.model_fields.get(key)
            if field is None or field.is_required():
                continue  # no default to go back to: nothing the demo can do with it
            default = field.get_default(call_default_factory=True)
            names = _differences(f"{spec.name}.{key}", getattr(section, key), default)
            if names:
                defaults[key] = default
                changed += names
        if changed:
            found[spec.name] = (section.model_copy(update=defaults), changed)
    return found


def _differences(name: str, value: Any, default: Any) -> list[str]:
    """``[name]`` when ``value`` is not ``default``; for a table of URLs by name (``sources``
    of costs), the name of each entry that differs (``costs.sources.aws``)."""
    if value == default:
        return []
    if isinstance(value, Mapping) and isinstance(default, Mapping):
        keys = sorted({str(k) for k in value} | {str(k) for k in default})
        return [f"{name}.{k}" for k in keys if value.get(k) != default.get(k)]
    return [name]

"""Discovery of installed apps (built-in module names and the skybridge.apps entry points)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.kit.manifest import CORE_SCOPE_PREFIXES, AppSpec, discover_apps, load_apps
from skybridge.auth.scopes import CORE_SCOPES, ScopeCatalog
from skybridge.core.errors import ConfigError, Conflict


def _module(tmp_path: Path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(body)


SPEC = (
    "from skybridge.apps.kit.manifest import AppSpec\n"
    "APP = AppSpec(name={name!r}, title='T', description='D')\n"
)


def test_built_in_apps_are_discovered() -> None:
    assert "assertions" in [app.name for app in discover_apps()]


def test_built_in_modules_are_imported_for_their_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _module(tmp_path, "sb_app_one", SPEC.format(name="one"))
    _module(tmp_path, "sb_app_two", SPEC.format(name="two"))
    apps = load_apps(["sb_app_one", "sb_app_two"])
    assert [a.name for a in apps] == ["one", "two"]
    assert all(isinstance(a, AppSpec) for a in apps)


def test_two_apps_with_one_name_conflict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _module(tmp_path, "sb_app_a", SPEC.format(name="same"))
    _module(tmp_path, "sb_app_b", SPEC.format(name="same"))
    with pytest.raises(Conflict, match="same"):
        load_apps(["sb_app_a", "sb_app_b"])


def test_a_module_without_an_app_spec_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _module(tmp_path, "sb_app_bad", "APP = 42\n")
    with pytest.raises(ConfigError):
        load_apps(["sb_app_bad"])


@pytest.mark.parametrize("name", ["", "Upper", "has space", "x" * 40, "1starts-with-digit"])
def test_app_names_must_be_url_safe(name: str) -> None:
    with pytest.raises(ConfigError):
        AppSpec(name=name, title="t", description="d")


@pytest.mark.parametrize("name", sorted(CORE_SCOPE_PREFIXES))
def test_an_app_may_not_take_the_name_of_skybridges_own_scopes(name: str) -> None:
    """An app called 'tokens' declaring tokens:manage for the read role let a read token mint
    and delete tokens."""
    with pytest.raises(ConfigError, match="taken by skybridge's own scopes"):
        AppSpec(name=name, title="t", description="d", scopes={f"{name}:manage": "read"})


def test_the_reserved_names_are_those_of_the_core_scopes() -> None:
    assert {scope.split(":")[0] for scope in CORE_SCOPES} == CORE_SCOPE_PREFIXES


def test_a_scope_is_defined_once() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        ScopeCatalog.build([{"one:run": "operate"}, {"one:run": "read"}])
    with pytest.raises(ConfigError, match="declared twice"):
        ScopeCatalog.build([{"tokens:manage": "read"}])
    catalog = ScopeCatalog.build([{"one:run": "operate"}])
    assert catalog.roles_of["tokens:manage"] == "admin"
    assert catalog.roles_of["one:run"] == "operate"

"""The backend registry: lazy import, install hints, refusal of double claims, entry points."""

from __future__ import annotations

import sys
import time
import types
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import EntryPoint
from typing import Any, Self

import pytest

from skybridge.core.backend import Backend
from skybridge.core.errors import ConfigError, Conflict, MissingDependency
from skybridge.core.registry import Registry
from skybridge.core.urls import BackendURL


class Widget(Backend):
    def __init__(self, url: BackendURL, options: dict[str, Any]) -> None:
        self.url = url
        self.options = options

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        return cls(url, options)

    def ping(self) -> None:
        return None


class NotAWidget:
    pass


@pytest.fixture
def fake_module(monkeypatch: pytest.MonkeyPatch) -> str:
    module = types.ModuleType("skybridge_test_widgets")
    module.Widget = Widget  # type: ignore[attr-defined]
    module.NotAWidget = NotAWidget  # type: ignore[attr-defined]
    module.LoginWidget = LoginWidget  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return module.__name__


def test_connect_builds_from_url(fake_module: str) -> None:
    registry = Registry("widgets", Widget)
    registry.register("wid", f"{fake_module}:Widget")
    widget = registry.connect("wid://host:1234/path?x=1", color="red")
    assert isinstance(widget, Widget)
    assert widget.url.host == "host"
    assert widget.url.port == 1234
    assert widget.url.params == {"x": "1"}
    assert widget.options == {"color": "red"}


def test_import_is_lazy() -> None:
    registry = Registry("widgets", Widget)
    registry.register("lazy", "skybridge_no_such_module_yet:Widget")
    assert "lazy" in registry.schemes()


def test_unknown_scheme_names_setting_and_choices(fake_module: str) -> None:
    registry = Registry("widgets", Widget)
    registry.register("wid", f"{fake_module}:Widget")
    with pytest.raises(ConfigError) as info:
        registry.connect("nosuch://x", setting="backends.widgets")
    assert info.value.setting == "backends.widgets"
    assert "wid://" in str(info.value)


def test_missing_sdk_gives_install_hint() -> None:
    registry = Registry("widgets", Widget)
    registry.register("cloud", "skybridge_missing_cloud_sdk:Widget", extra="aws")
    with pytest.raises(MissingDependency) as info:
        registry.resolve("cloud")
    assert info.value.hint == 'pip install "skybridge[aws]"'
    assert isinstance(info.value, ImportError)


def test_double_claim_refused(fake_module: str) -> None:
    registry = Registry("widgets", Widget)
    registry.register("wid", f"{fake_module}:Widget")
    registry.register("wid", f"{fake_module}:Widget")  # same claim again is harmless
    with pytest.raises(Conflict, match="already claimed"):
        registry.register("wid", "elsewhere:Other", origin="acme-plugin")


def test_target_must_be_a_backend_of_the_family(fake_module: str) -> None:
    registry = Registry("widgets", Widget)
    registry.register("bad", f"{fake_module}:NotAWidget")
    with pytest.raises(ConfigError, match="is not a Widget"):
        registry.resolve("bad")


GROUP = "skybridge.backends.widgets"


def _plugins(**targets: str) -> list[EntryPoint]:
    """Installed plug-ins of the widgets family: scheme name -> target."""
    return [EntryPoint(name=name, value=value, group=GROUP) for name, value in targets.items()]


def test_entry_points_add_schemes(fake_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_entry_points(*, group: str) -> list[EntryPoint]:
        return _plugins(plug=f"{fake_module}:Widget") if group == GROUP else []

    monkeypatch.setattr("skybridge.core.registry.entry_points", fake_entry_points)
    registry = Registry("widgets", Widget)
    assert isinstance(registry.connect("plug://x"), Widget)


def test_a_contested_entry_point_leaves_the_others_and_every_caller_waits_for_the_load(
    fake_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eps = _plugins(taken="elsewhere:Widget", plug=f"{fake_module}:Widget")

    def slow_entry_points(*, group: str) -> list[EntryPoint]:
        time.sleep(0.2)  # every caller arrives while the first one loads
        return eps if group == GROUP else []

    monkeypatch.setattr("skybridge.core.registry.entry_points", slow_entry_points)
    registry = Registry("widgets", Widget)
    registry.register("taken", f"{fake_module}:Widget")
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: registry.resolve("plug"), range(8)))
    assert found == [Widget] * 8  # the plug-in after the contested one is there, for all
    for _ in range(2):  # the contested scheme says so every time, not only the first
        with pytest.raises(Conflict, match="already claimed"):
            registry.resolve("taken")


def test_a_malformed_plug_in_or_unreadable_metadata_leaves_every_other_scheme_working(
    fake_module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    eps = _plugins(broken="only_a_module", plug=f"{fake_module}:Widget")
    monkeypatch.setattr("skybridge.core.registry.entry_points", lambda *, group: eps)
    registry = Registry("widgets", Widget)
    registry.register("wid", f"{fake_module}:Widget")
    for _ in range(2):
        assert registry.resolve("wid") is Widget
        assert registry.resolve("plug") is Widget
        with pytest.raises(ConfigError, match="malformed"):
            registry.resolve("broken")

    def unreadable(*, group: str) -> list[EntryPoint]:
        raise ValueError("bad METADATA")

    monkeypatch.setattr("skybridge.core.registry.entry_points", unreadable)
    registry = Registry("widgets", Widget)
    registry.register("wid", f"{fake_module}:Widget")
    assert registry.resolve("wid") is Widget


def test_bad_url_is_a_config_error() -> None:
    registry = Registry("widgets", Widget)
    with pytest.raises(ConfigError) as info:
        registry.connect("no-scheme-here", setting="backends.kv")
    assert info.value.setting == "backends.kv"


class LoginWidget(Widget):
    url_credentials = True


@pytest.mark.parametrize(
    "url",
    [
        "aws-sm://admin:HUNTER2PW@eu-west-1",
        "dynamodb://admin:HUNTER2PW@table?region=eu-west-1",
        "s3://admin:HUNTER2PW@bucket/prefix",
        "oci-vault://:HUNTER2PW@ocid1.vault.oc1..x",
        "local://u:HUNTER2PW@dir",
    ],
)
def test_a_password_in_the_url_of_a_backend_that_takes_none_is_refused_masked(url: str) -> None:
    """A password put before a region, table or bucket was read as its name and printed whole
    in the SDK's complaint about that name (and kept as a mapping's last error)."""
    from skybridge.backends import kv, objects, secrets

    family = {"aws-sm": secrets, "dynamodb": kv, "s3": objects}.get(url.split(":")[0], secrets)
    with pytest.raises(ConfigError, match="takes no login in its URL") as info:
        family.connect(url, setting="backends.x")
    shown = f"{info.value} {info.value.hint}"
    assert "HUNTER2PW" not in shown
    assert info.value.setting == "backends.x"


def test_a_backend_that_logs_in_keeps_its_login(fake_module: str) -> None:
    registry = Registry("widgets", Widget)
    registry.register("wid", f"{fake_module}:Widget")
    registry.register("login", f"{fake_module}:LoginWidget")
    assert registry.connect("login://user:pw@host").url.password == "pw"
    with pytest.raises(ConfigError, match="takes no login"):
        registry.connect("wid://user:pw@host")
    assert registry.connect("wid://bucket@namespace").url.username == "bucket"  # oci:// names


class Faulty(Widget):
    """Refuses its URL naming the family's own setting, as built-in backends do."""

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        raise ConfigError("bad", setting=url.params.get("names") or None)


@pytest.mark.parametrize(
    ("names", "given", "named"),
    [
        ("backends.widgets", "features.online", "features.online"),
        ("backends.widgets.checkpoints", "datasync.source", "datasync.source.checkpoints"),
        ("backends.widgets", None, "backends.widgets"),
        ("", "features.online", "features.online"),
        # Another family's setting (credentials read elsewhere) stays as it is.
        ("backends.secrets", "features.online", "backends.secrets"),
        ("backends.widgetsx", "features.online", "backends.widgetsx"),
    ],
)
def test_an_error_names_the_setting_that_holds_the_url(
    monkeypatch: pytest.MonkeyPatch, fake_module: str, names: str, given: str | None, named: str
) -> None:
    monkeypatch.setattr(sys.modules[fake_module], "Faulty", Faulty, raising=False)
    registry = Registry("widgets", Widget)
    registry.register("bad", f"{fake_module}:Faulty")
    with pytest.raises(ConfigError) as info:
        registry.connect(f"bad://x?names={names}", setting=given)
    assert info.value.setting == named
    assert str(info.value) == f"{named}: bad"

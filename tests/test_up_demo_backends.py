"""``skybridge up --demo`` keeps all of its data under ``data_dir``: the backend URLs
``skybridge.toml`` or the environment set, in ``[backends]`` and in the apps' own sections
(``AppSpec.backend_settings``), are set aside, and the demo names them (never their URLs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.apps.kit.manifest import AppSpec, discover_apps, find_app
from skybridge.apps.kit.settings import load_settings, section_model
from skybridge.commands.up import (
    _banner,
    demo_settings,
    seed_demo,
    set_aside,
    set_aside_notice,
)
from skybridge.core import config as core_config

#: Engines nothing listens on (port 1): the demo must not reach for any of them.
ELSEWHERE = """\
[backends]
kv = "redis://127.0.0.1:1/0"

[features]
online = "redis://127.0.0.1:1/0"

[datasync]
target = "postgresql://u:secretpw@127.0.0.1:1/x"
aws_objects = "s3://bucket/aws?endpoint_url=http://127.0.0.1:1"

[secretsync]
state = "redis://:secretpw@127.0.0.1:1/2"

[costs.sources]
aws = "aws-ce://us-east-1"
"""


@pytest.fixture
def workdir(skybridge_workdir: Path) -> Path:
    (skybridge_workdir / "skybridge.toml").write_text(ELSEWHERE)
    return skybridge_workdir


@pytest.fixture
def apps() -> list[AppSpec]:
    return discover_apps()


def test_every_app_backend_setting_goes_back_to_its_embedded_default(
    workdir: Path, apps: list[AppSpec]
) -> None:
    settings = demo_settings(load_settings(apps), apps)
    home = (workdir / ".skybridge").resolve()
    assert settings.backends.kv == f"sqlite:///{home}/kv.db"
    checked = 0
    for spec in apps:
        model = section_model(spec)
        if model is None:
            continue
        config = AppContext.create(spec, settings, demo=True).config
        for key in spec.backend_settings:
            default = model.model_fields[key].get_default(call_default_factory=True)
            assert getattr(config, key) == default, f"{spec.name}.{key}"
            checked += 1
    assert checked >= 8  # features, secretsync, datasync (4) and costs (2) at least
    # so each app falls back to the demo's embedded backends
    features = AppContext.create(find_app(apps, "features"), settings, demo=True)
    assert features.config.online is None
    assert features.backend_url("kv") == f"sqlite:///{home}/kv.db"
    datasync = AppContext.create(find_app(apps, "datasync"), settings, demo=True)
    assert (datasync.config.target, datasync.config.aws_objects) == (None, None)
    assert datasync.backend_url("sql") == f"sqlite:///{home}/skybridge.db"
    assert AppContext.create(find_app(apps, "costs"), settings).config.sources == {}
    # settings the demo does not own are kept
    assert AppContext.create(find_app(apps, "datasync"), settings).config.tables


def test_the_demo_names_what_it_set_aside_and_never_a_url(
    workdir: Path, apps: list[AppSpec]
) -> None:
    names = set_aside(load_settings(apps), apps)
    assert names == [
        "backends.kv",
        "costs.sources.aws",
        "datasync.target",
        "datasync.aws_objects",
        "features.online",
        "secretsync.state",
    ]
    notice = set_aside_notice(names)
    assert "features.online" in notice
    assert "datasync.target" in notice
    assert "secretpw" not in notice
    assert "127.0.0.1" not in notice
    lines = _banner(
        "http://127.0.0.1:8080/", True, "sbk_x", workdir / "t", workdir, [], aside=names
    )
    block = "\n".join(line.plain for line in lines)
    assert "features.online" in block
    assert "datasync.target" in block
    assert "still uses" in block  # it does not claim the CLI here sees the demo's data
    assert "secretpw" not in block
    assert "the CLI in this directory uses the same data" not in block


def test_an_environment_variable_is_set_aside_too(
    skybridge_workdir: Path, apps: list[AppSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKYBRIDGE__FEATURES__ONLINE", "redis://:secretpw@127.0.0.1:1/0")
    settings = load_settings(apps)
    assert set_aside(settings, apps) == ["features.online"]
    features = find_app(apps, "features")
    assert AppContext.create(features, demo_settings(settings, apps)).config.online is None


def test_nothing_is_set_aside_when_nothing_points_elsewhere(
    skybridge_workdir: Path, apps: list[AppSpec]
) -> None:
    assert set_aside(load_settings(apps), apps) == []
    # the embedded defaults written out are not "elsewhere", relative or absolute
    home = (skybridge_workdir / ".skybridge").resolve()
    (skybridge_workdir / "skybridge.toml").write_text(
        f'[backends]\nkv = "sqlite:///.skybridge/kv.db"\nsql = "sqlite:///{home}/skybridge.db"\n'
    )
    assert set_aside(load_settings(apps), apps) == []
    lines = _banner("http://127.0.0.1:8080/", True, "sbk_x", home / "t", home, [])
    assert "the CLI in this directory uses the same data" in "\n".join(x.plain for x in lines)


def test_settings_without_the_apps_sections_are_refused(
    skybridge_workdir: Path, apps: list[AppSpec]
) -> None:
    # the app would read its section again from skybridge.toml, past the demo's defaults
    with pytest.raises(ValueError, match=r"no \[costs\] section"):
        demo_settings(core_config.load_settings(), apps)
    assert demo_settings(core_config.load_settings()).backends.kv.startswith("sqlite:///")


def test_the_demo_seeds_into_its_own_backends_whatever_the_file_says(
    workdir: Path, apps: list[AppSpec]
) -> None:
    """Seeding with the state store set to an unreachable Redis used to fail (or, with a
    reachable one, to leave the demo's state there while its events went to SQLite)."""
    settings = demo_settings(load_settings(apps), apps)
    assert seed_demo(settings, [find_app(apps, "secretsync")]) == ["secretsync"]
    assert (workdir / ".skybridge" / "kv.db").is_file()

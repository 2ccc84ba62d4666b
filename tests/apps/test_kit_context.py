"""``AppContext.of``: an installed app's context from the settings file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from skybridge.apps.kit.context import AppContext
from skybridge.core.errors import ConfigError


def test_of_reads_the_apps_section_from_the_file_and_the_environment(
    skybridge_workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (skybridge_workdir / "skybridge.toml").write_text('[datasync]\ntopic = "from-file"\n')
    ctx = AppContext.of("datasync")
    assert (ctx.name, ctx.config.topic, ctx.demo) == ("datasync", "from-file", False)
    monkeypatch.setenv("SKYBRIDGE__DATASYNC__TOPIC", "from-env")
    assert AppContext.of("datasync", demo=True).config.topic == "from-env"


def test_of_an_app_not_installed_names_the_installed_ones(skybridge_workdir: Path) -> None:
    with pytest.raises(ConfigError, match=r"no app called 'nope' \(installed apps: .*datasync"):
        AppContext.of("nope")

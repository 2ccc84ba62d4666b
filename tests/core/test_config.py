"""Settings precedence: explicit argument > environment > skybridge.toml."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from skybridge.core.config import load_settings
from skybridge.core.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith("SKYBRIDGE"):
            monkeypatch.delenv(key)
    return tmp_path


def write_toml(path: Path, text: str) -> None:
    (path / "skybridge.toml").write_text(text)


def test_defaults_are_embedded_backends() -> None:
    settings = load_settings()
    assert settings.backends.kv.startswith("sqlite://")
    assert settings.backends.secrets.startswith("local://")
    assert settings.server.host == "127.0.0.1"


def test_toml_then_env_then_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_toml(tmp_path, '[backends]\nkv = "redis://toml:6379/0"\nobjects = "file://toml"\n')
    assert load_settings().backends.kv == "redis://toml:6379/0"

    monkeypatch.setenv("SKYBRIDGE__BACKENDS__KV", "redis://env:6379/0")
    settings = load_settings()
    assert settings.backends.kv == "redis://env:6379/0"
    assert settings.backends.objects == "file://toml", "env must swap only the one backend"

    from skybridge.core.config import BackendsConfig

    explicit = load_settings(backends=BackendsConfig(kv="sqlite:///arg.db"))
    assert explicit.backends.kv == "sqlite:///arg.db"


def test_extra_backend_names_are_kept(tmp_path: Path) -> None:
    write_toml(tmp_path, '[backends]\nstreams = "sqlite:///.skybridge/streams.db"\n')
    assert load_settings().backends.named()["streams"] == "sqlite:///.skybridge/streams.db"


def test_config_file_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "conf" / "prod.toml"
    other.parent.mkdir()
    other.write_text("[server]\nport = 9999\n")
    monkeypatch.setenv("SKYBRIDGE_CONFIG", str(other))
    assert load_settings().server.port == 9999


def test_missing_config_file_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE_CONFIG", "/nonexistent/skybridge.toml")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SKYBRIDGE_CONFIG"


def test_a_broken_local_file_is_named_without_a_variable_nobody_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SKYBRIDGE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "skybridge.toml").write_text("[backends\n")
    with pytest.raises(ConfigError, match=r"cannot read skybridge\.toml") as info:
        load_settings()
    assert info.value.setting is None
    assert "SKYBRIDGE_CONFIG" not in str(info.value)
    (tmp_path / "skybridge.toml").unlink()
    (tmp_path / "skybridge.toml").mkdir()
    with pytest.raises(ConfigError, match=r"skybridge\.toml is a folder, not a settings file"):
        load_settings()
    monkeypatch.setenv("SKYBRIDGE_CONFIG", str(tmp_path / "skybridge.toml"))
    with pytest.raises(ConfigError, match="is a folder, not a settings file") as named:
        load_settings()
    assert named.value.setting == "SKYBRIDGE_CONFIG"
    monkeypatch.setenv("SKYBRIDGE_CONFIG", str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE__SERVER__PORT", "99999")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "server.port"
    assert "SKYBRIDGE__SERVER__PORT" in str(info.value.hint)


class _Lists(BaseModel):
    model_config = ConfigDict(extra="forbid")
    names: list[str] = []
    urls: dict[str, str] = {}
    limit: int = 1


@pytest.mark.parametrize(
    ("key", "kind", "example"), [("NAMES", "list", '["a", "b"]'), ("URLS", "table", '{"name": 1}')]
)
def test_an_env_value_that_is_no_json_names_its_variable_not_its_value(
    monkeypatch: pytest.MonkeyPatch, key: str, kind: str, example: str
) -> None:
    monkeypatch.setenv("SKYBRIDGE__LISTS__LIMIT", "7")  # a scalar, not JSON: not the culprit
    monkeypatch.setenv(f"SKYBRIDGE__LISTS__{key}", "postgresql://app:hunter2@db/app")
    with pytest.raises(ConfigError) as info:
        load_settings(sections={"lists": _Lists})
    assert info.value.setting == f"lists.{key.lower()}"
    assert info.value.message == f"SKYBRIDGE__LISTS__{key} is not JSON; this setting is a {kind}"
    assert example in str(info.value.hint)
    assert "hunter2" not in f"{info.value} {info.value.hint}"
    monkeypatch.setenv(f"SKYBRIDGE__LISTS__{key}", example.replace(": 1", ': "x"'))
    lists = load_settings(sections={"lists": _Lists}).section("lists")
    assert isinstance(lists, _Lists)
    assert lists.limit == 7


def test_unknown_section_is_refused(tmp_path: Path) -> None:
    write_toml(tmp_path, "[sever]\nport = 1\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "sever"


def test_masked_hides_passwords_and_secret_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKYBRIDGE__BACKENDS__KV", "redis://:hunter2-pass@cache:6379/0")
    monkeypatch.setenv("SKYBRIDGE__SERVER__ADMIN_TOKEN", "sbk_admin_value_123_0123456789abcdef")
    settings = load_settings()
    text = repr(settings) + str(settings.masked())
    assert "hunter2-pass" not in str(settings.masked())
    assert "sbk_admin_value_123_0123456789abcdef" not in text
    assert settings.masked()["backends"]["kv"] == "redis://:***@cache:6379/0"

"""Settings: explicit argument > environment (``SKYBRIDGE__SECTION__KEY``) > ``skybridge.toml``.

Backends are named URLs under ``[backends]``; ``SKYBRIDGE__BACKENDS__KV=redis://...`` swaps one.
Sensitive values are typed as secrets (``SecretStr``) and URLs are masked when shown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from skybridge.core.errors import ConfigError
from skybridge.core.urls import mask_url

CONFIG_ENV = "SKYBRIDGE_CONFIG"
DEFAULT_CONFIG_FILE = "skybridge.toml"
MIN_ADMIN_TOKEN_CHARS = 32


class BackendsConfig(BaseModel):
    """Named backend URLs; any extra name (``streams``, ``vectors``, ...) is accepted too."""

    model_config = ConfigDict(extra="allow")

    kv: str = "sqlite:///.skybridge/kv.db"
    objects: str = "file://.skybridge/objects"
    secrets: str = "local://.skybridge/secrets"
    notify: str = "console://"
    sql: str = "sqlite:///.skybridge/skybridge.db"

    def named(self) -> dict[str, str]:
        """All configured backends, declared and extra, by name."""
        names = dict(self.model_dump())
        return {k: str(v) for k, v in names.items() if v}

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


class ServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: Signs the dashboard's session cookie; generated per data dir when unset.
    session_secret: SecretStr | None = None
    #: A bootstrap token accepted in addition to stored ones (for example from a secret store).
    admin_token: SecretStr | None = None

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters")
        return value


class LogConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: str = "INFO"
    json_output: bool = Field(default=True, alias="json")

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class Settings(BaseSettings):
    """Everything skybridge reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="SKYBRIDGE__",
        env_nested_delimiter="__",
        extra="forbid",
        populate_by_name=True,
    )

    data_dir: Path = Path(".skybridge")
    backends: BackendsConfig = Field(default_factory=BackendsConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file))

    def masked(self) -> dict[str, Any]:
        """The settings as plain data, safe to print: secrets and URL passwords masked."""
        data = self.model_dump(mode="json", by_alias=True)
        data["backends"] = {k: mask_url(v) for k, v in self.backends.named().items()}
        return data


def load_settings(**overrides: Any) -> Settings:
    """Load settings, turning validation failures into a :class:`ConfigError` naming the setting."""
    config_file = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    if CONFIG_ENV in os.environ and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist", setting=CONFIG_ENV)
    try:
        return Settings(**overrides)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        setting = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{first['msg']}",
            setting=setting,
            hint=f"set it in {config_file} or as SKYBRIDGE__{setting.upper().replace('.', '__')}",
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {config_file}: {exc}", setting=CONFIG_ENV) from None

"""Settings: explicit argument > environment (``SKYBRIDGE__SECTION__KEY``) > ``skybridge.toml``.

Backends are named URLs under ``[backends]``; ``SKYBRIDGE__BACKENDS__KV=redis://...`` swaps one.
A URL may say ``{data_dir}``: the embedded defaults do, so they follow ``data_dir``.
Sensitive values are typed as secrets (``SecretStr``) and URLs are masked when shown.

Apps add their own sections (``[secretsync]``, ...): :func:`load_settings` takes the section
models (and the default URLs of backend families the apps introduce) and validates them with the
same precedence; a bad value is a :class:`ConfigError` naming ``<section>.<key>``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, ClassVar, TypeGuard, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    create_model,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from skybridge.core.errors import ConfigError
from skybridge.core.urls import mask_urls_in

CONFIG_ENV = "SKYBRIDGE_CONFIG"
DATA_DIR_PLACEHOLDER = "{data_dir}"
DEFAULT_CONFIG_FILE = "skybridge.toml"
MIN_ADMIN_TOKEN_CHARS = 32


def masked_values(value: Any) -> Any:
    """``value`` with the credentials of every URL in it masked: strings holding ``://``, in
    mappings, lists and tuples too."""
    if isinstance(value, str):
        return mask_urls_in(value)
    if isinstance(value, Mapping):
        return {k: masked_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(masked_values(v) for v in value)
    return value


def _masked_args(args: Iterable[tuple[str | None, Any]]) -> Iterable[tuple[str | None, Any]]:
    return [(name, masked_values(value)) for name, value in args]


class SettingsModel(BaseModel):
    """A settings section whose ``repr`` and ``str`` mask the credentials of its URLs (a
    context or its config printed or logged shows ``postgresql://app:***@db/x``)."""

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return _masked_args(super().__repr_args__())


class BackendsConfig(SettingsModel):
    """Named backend URLs; any extra name (``streams``, ``vectors``, ...) is accepted too."""

    model_config = ConfigDict(extra="allow")

    kv: str = "sqlite:///{data_dir}/kv.db"
    objects: str = "file://{data_dir}/objects"
    secrets: str = "local://{data_dir}/secrets"
    notify: str = "console://"
    sql: str = "sqlite:///{data_dir}/skybridge.db"
    streams: str = "sqlite:///{data_dir}/streams.db"

    def named(self) -> dict[str, str]:
        """All configured backends, declared and extra, by name."""
        names = dict(self.model_dump())
        return {k: str(v) for k, v in names.items() if v}

    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    def expanded(self, data_dir: Path) -> BackendsConfig:
        """A copy with ``{data_dir}`` in every URL replaced by ``data_dir``."""
        home = str(data_dir).rstrip("/") or "/"
        urls = {
            k: v.replace(DATA_DIR_PLACEHOLDER, home)
            for k, v in self.model_dump().items()
            if isinstance(v, str)
        }
        return self.model_copy(update=urls)

    @classmethod
    def embedded(cls, data_dir: Path) -> BackendsConfig:
        """Every backend at its embedded default under ``data_dir``."""
        return cls().expanded(data_dir)


class ServerConfig(SettingsModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    #: Signs the dashboard's session cookie; generated per data dir when unset.
    session_secret: SecretStr | None = None
    #: A bootstrap token accepted in addition to stored ones (for example from a secret store).
    admin_token: SecretStr | None = None
    #: ``skybridge up`` also runs the apps' pipelines, services and jobs (else: workers do).
    background: bool = True
    #: The service's own state (API tokens): never the database user SQL reaches.
    database: str = "sqlite:///{data_dir}/service.db"
    #: Largest request body in bytes; a route may declare more (``apps.kit.limits.BodyLimit``).
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Requests per second each API token may make on average (0: no limit), and its burst.
    token_rate_per_second: float = Field(default=20.0, ge=0)
    token_rate_burst: int = Field(default=100, ge=1)
    #: The same per client address, for requests that carry no valid API token.
    anonymous_rate_per_second: float = Field(default=5.0, ge=0)
    anonymous_rate_burst: int = Field(default=60, ge=1)
    #: Requests without a valid API token one client address may have in progress at once
    #: (beyond: 429); all such requests together hold at most half of the admission slots.
    anonymous_in_progress: int = Field(default=20, ge=1)
    #: Threads for blocking route work; requests beyond threads + queue are answered 503.
    worker_threads: int = Field(default=40, ge=1, le=1000)
    worker_queue: int = Field(default=100, ge=0)
    #: Seconds a client may pause while sending a request body before it is answered 408.
    body_timeout: float = Field(default=15.0, gt=0)
    #: HTTPS: a PEM certificate chain and its private key (both or neither).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: Serve plain HTTP on a non-loopback address (only behind a TLS-terminating proxy).
    insecure_bind: bool = False
    #: Proxies whose X-Forwarded-For / X-Forwarded-Proto are trusted: IPs or CIDRs, comma-separated.
    forwarded_allow_ips: str = "127.0.0.1"

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters")
        return value


class LogConfig(SettingsModel):
    model_config = ConfigDict(extra="forbid")

    level: str = "INFO"
    #: JSON lines (for log collectors) or readable lines; unset: JSON unless stderr is a
    #: terminal.
    json_output: bool | None = Field(default=None, alias="json")
    #: Log lines a service holds while its stderr is read slowly; beyond them lines are dropped
    #: (counted and reported) rather than stalling the service (:mod:`skybridge.core.log_output`).
    queue_lines: int = Field(default=10_000, ge=100, le=1_000_000)

    @field_validator("level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level


class Settings(BaseSettings):
    """Everything skybridge reads from its environment (apps' sections: :func:`settings_class`)."""

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

    #: The app sections this class validates (set on the classes :func:`settings_class` makes).
    sections: ClassVar[tuple[str, ...]] = ()

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

    @model_validator(mode="after")
    def _expand_data_dir(self) -> Settings:
        self.backends = self.backends.expanded(self.data_dir)
        home = str(self.data_dir).rstrip("/") or "/"
        database = self.server.database.replace(DATA_DIR_PLACEHOLDER, home)
        self.server = self.server.model_copy(update={"database": database})
        return self

    def section(self, name: str) -> BaseModel | None:
        """The validated ``[name]`` section of an app, or ``None`` when this class has none."""
        value = getattr(self, name, None) if name in self.sections else None
        return value if isinstance(value, BaseModel) else None

    def masked(self) -> dict[str, Any]:
        """The settings as plain data, safe to print: secrets and the credentials of every URL
        (``[backends]``, and apps' own: ``features.online``, ``datasync.target``...) masked."""
        data = self.model_dump(mode="json", by_alias=True)
        data["backends"] = self.backends.named()
        masked: dict[str, Any] = masked_values(data)
        return masked

    def __repr_args__(self) -> Iterable[tuple[str | None, Any]]:
        return _masked_args(super().__repr_args__())


RESERVED_SECTIONS = frozenset(Settings.model_fields) | {"sections"}


@cache
def _settings_class(
    sections: tuple[tuple[str, type[BaseModel]], ...], families: tuple[tuple[str, str], ...]
) -> type[Settings]:
    taken = [name for name, _ in sections if name in RESERVED_SECTIONS]
    if taken:
        raise ConfigError(f"section name {taken[0]!r} is reserved for skybridge's own settings")
    extra_backends: dict[str, Any] = {
        family: (str, url) for family, url in families if family not in BackendsConfig.model_fields
    }
    backends_cls = create_model("BackendsConfig", __base__=BackendsConfig, **extra_backends)
    fields: dict[str, Any] = {
        name: (model, Field(default_factory=model)) for name, model in sections
    }
    fields["backends"] = (backends_cls, Field(default_factory=backends_cls))
    cls = create_model("Settings", __base__=Settings, **fields)
    cls.sections = tuple(name for name, _ in sections)
    return cls


def settings_class(
    sections: Mapping[str, type[BaseModel]] | None = None,
    backend_defaults: Mapping[str, str] | None = None,
) -> type[Settings]:
    """:class:`Settings` extended with app sections and the default URLs of extra families."""
    if not sections and not backend_defaults:
        return Settings
    return _settings_class(
        tuple(sorted((sections or {}).items())), tuple(sorted((backend_defaults or {}).items()))
    )


def config_file() -> Path:
    """The settings file: ``$SKYBRIDGE_CONFIG``, else ``./skybridge.toml`` (it may not exist)."""
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))


def env_name(setting: str) -> str:
    """The environment variable of a dotted setting: ``SKYBRIDGE__SECTION__KEY``."""
    return "SKYBRIDGE__" + setting.upper().replace(".", "__")


def load_settings(
    *,
    sections: Mapping[str, type[BaseModel]] | None = None,
    backend_defaults: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Load settings, turning validation failures into a :class:`ConfigError` naming the setting.

    Args:
        sections: app sections by name (``{"secretsync": SecretSyncConfig}``).
        backend_defaults: default URLs of backend families the apps introduce.
        overrides: explicit values, which win over the environment and the file.
    """
    path = config_file()
    # The variable is named only when it chose the file; else the file is ./skybridge.toml.
    named_by = CONFIG_ENV if CONFIG_ENV in os.environ else None
    if named_by and not path.exists():
        raise ConfigError(
            f"config file {path} does not exist",
            setting=CONFIG_ENV,
            hint="give the path of an existing TOML file",
        )
    if path.exists() and not path.is_file():
        raise ConfigError(
            f"{path} is a folder, not a settings file",
            setting=named_by,
            hint="remove it, or make it a TOML file (docs: the README's Configuration)",
        )
    cls = settings_class(sections, backend_defaults)
    try:
        return cls(**overrides)
    except PydanticValidationError as exc:
        raise _config_error(exc, path, cls) from None
    except SettingsError as exc:
        raise _env_json_error(exc, cls) or ConfigError(
            f"cannot read the settings (the environment or {path}): {exc}", setting=named_by
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", setting=named_by) from None


def _env_json_error(exc: SettingsError, cls: type[Settings]) -> ConfigError | None:
    """The setting whose environment variable is not the JSON a list or table takes, when
    that is why the environment could not be read (pydantic-settings names only the section)."""
    found = re.search(r'field "(\w+)" from source "EnvSettingsSource"', str(exc))
    section = cls.model_fields.get(found.group(1)) if found else None
    if found is None or section is None or not _is_model(section.annotation):
        return None
    fields = section.annotation.model_fields
    for key, field in fields.items():
        name = env_name(f"{found.group(1)}.{key}")
        value = os.environ.get(name)
        kind = _json_kind(field.annotation)
        if value is None or kind is None:
            continue
        try:
            json.loads(value)
        except ValueError:
            example = '["a", "b"]' if kind == "list" else '{"name": 1}'
            return ConfigError(
                f"{name} is not JSON; this setting is a {kind}",  # the value is not shown
                setting=f"{found.group(1)}.{key}",
                hint=f"give it as JSON, for example {name}='{example}'",
            )
    return None


def _is_model(annotation: Any) -> TypeGuard[type[BaseModel]]:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _json_kind(annotation: Any) -> str | None:
    """``list`` or ``table`` when pydantic-settings reads this field's environment variable as
    JSON, else ``None``."""
    origin = get_origin(annotation)
    if origin in (Union, UnionType):
        kinds = [_json_kind(a) for a in get_args(annotation) if a is not type(None)]
        return next((k for k in kinds if k), None)
    if origin is Annotated:
        return _json_kind(get_args(annotation)[0])
    if origin in (list, set, tuple, frozenset) or annotation in (list, set, tuple, frozenset):
        return "list"
    if origin is dict or annotation is dict or _is_model(annotation):
        return "table"
    return None


def _config_error(exc: PydanticValidationError, path: Path, cls: type[Settings]) -> ConfigError:
    first = exc.errors()[0]
    setting = ".".join(str(p) for p in first["loc"])
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        known = ", ".join(f"[{name}]" for name in cls.sections) or "none"
        return ConfigError(
            f"unknown section or setting '{setting}'",
            setting=setting,
            hint=f"remove it from {path} (app sections of the installed apps: {known})",
        )
    return ConfigError(
        str(first["msg"]).removeprefix("Value error, "),  # pydantic's prefix to a ValueError
        setting=setting,
        hint=f"set it in {path} or as {env_name(setting)}",
    )

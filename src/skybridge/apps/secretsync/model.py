"""The mapping table: which source secret goes to which target secret, and how.

A table is TOML, YAML or JSON::

    owner = "secretsync/prod"            # written into every target's ownership metadata

    [backends]
    aws = "aws-sm://us-east-1"
    oci = { url = "oci-vault://ocid1.vault...?key=ocid1.key...&compartment=ocid1...",
            credentials_from = { backend = "aws", secret = "oci/api-key" } }

    [[mappings]]
    name = "db"
    source = { backend = "aws", secret = "prod/db" }
    target = { backend = "oci", secret = "prod-db" }
    fields = ["username", "password"]
    rename = { password = "db_password" }

``backend`` is a name from ``[backends]`` or a ``secrets`` backend URL. Validation errors name
the mapping and the setting to fix.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from skybridge.core.urls import mask_url

_MAPPING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: Target name rules per backend scheme (ids such as OCIDs and ARNs are exempt).
NAME_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "oci-vault": (
        re.compile(r"^[A-Za-z0-9_.-]{1,255}$"),
        "1-255 characters from A-Z a-z 0-9 - _ .",
    ),
    "aws-sm": (
        re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$"),
        "1-512 characters from A-Z a-z 0-9 /_+=.@-",
    ),
    "local": (
        re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$"),
        "1-512 characters from A-Z a-z 0-9 /_+=.@-",
    ),
}
_IDS = ("ocid1.", "arn:")


class Binary(StrEnum):
    """What to do with a binary (``SecretBinary``) source value."""

    PRESERVE = "preserve"  # write bytes; the target records the value type
    BASE64 = "base64"  # write base64 text
    REJECT = "reject"  # dead-letter the event


class Deletion(StrEnum):
    """What happens to the target when the source secret is deleted."""

    RETAIN = "retain"  # keep the target as it is (and keep managing it)
    DELETE = "delete"  # schedule deletion of the target
    ORPHAN = "orphan"  # keep the target but remove the ownership metadata


class DriftPolicy(StrEnum):
    """What reconcile does about a target edited outside secretsync."""

    REPAIR = "repair"
    REPORT = "report"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretPointer(_Frozen):
    """A secret in a backend: ``backend`` is a table backend name or a ``secrets`` URL."""

    backend: str = Field(min_length=1)
    secret: str = Field(min_length=1, description="name, ARN or OCID")

    def __str__(self) -> str:
        where = mask_url(self.backend) if "://" in self.backend else self.backend
        return f"{where}:{self.secret}"


def _check_scheme(url: str, where: str = "") -> str:
    """The scheme of a ``secrets`` backend URL, if one is installed for it."""
    from skybridge.backends.secrets import registry

    scheme = url.split("://", 1)[0].lower()
    if scheme not in registry.schemes():
        raise ValueError(
            f"{where}'{mask_url(url)}': no secrets backend for '{scheme}://' "
            f"(known: {', '.join(registry.schemes())})"
        )
    return scheme


class BackendSpec(_Frozen):
    """A ``secrets`` backend URL, with optional credentials kept in another secret."""

    url: str = Field(min_length=4)
    #: A secret holding the OCI API key config as JSON (user, tenancy, fingerprint,
    #: key_content, region): how a Lambda reaches OCI without a config file.
    credentials_from: SecretPointer | None = None
    options: dict[str, str | int | bool] = Field(default_factory=dict)
    #: The setting the URL came from when the table borrowed it (``backends.secrets`` of
    #: skybridge.toml), named in errors instead of the table's own ``[backends]``.
    _setting: str | None = PrivateAttr(default=None)

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    @property
    def setting(self) -> str | None:
        return self._setting

    def borrowed_from(self, setting: str) -> Self:
        """This spec, marked as set by ``setting`` outside the table."""
        self._setting = setting
        return self

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if "://" not in value:
            raise ValueError(f"'{mask_url(value)}' is not a backend URL (scheme://...)")
        _check_scheme(value)
        return value


class SecretMapping(_Frozen):
    """One source secret synced to one target secret."""

    name: str
    source: SecretPointer
    target: SecretPointer
    #: JSON fields (dotted paths) to copy; ``None`` copies the whole value.
    fields: list[str] | None = None
    #: Field renames, old name -> new name (applied to whole JSON values too).
    rename: dict[str, str] = Field(default_factory=dict)
    #: ``json``: an object of the selected fields; ``raw``: the one selected field's value.
    field_format: Literal["json", "raw"] = "json"
    binary: Binary = Binary.PRESERVE
    deletion: Deletion = Deletion.RETAIN
    drift: DriftPolicy = DriftPolicy.REPAIR
    #: Take over a target that exists without our ownership metadata (or with another owner's).
    adopt: bool = False
    description: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _MAPPING_NAME.fullmatch(value):
            raise ValueError("use 1-64 characters from A-Z a-z 0-9 _ . - (starting alphanumeric)")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("fields is empty: list the JSON fields to copy, or remove fields")
        for path in value:
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"field '{path}' is not a JSON field path like 'a' or 'a.b'")
        if len(set(value)) != len(value):
            raise ValueError("fields lists a field twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.rename:
            if any(not k or not v for k, v in self.rename.items()):
                raise ValueError("rename keys and values must be non-empty field names")
            if len(set(self.rename.values())) != len(self.rename):
                raise ValueError("rename maps two fields to the same name")
            unknown = sorted(set(self.rename) - set(self.fields or self.rename))
            if unknown:
                raise ValueError(f"rename names fields not in fields: {', '.join(unknown)}")
        if self.field_format == "raw" and (self.fields is None or len(self.fields) != 1):
            raise ValueError("field_format = 'raw' needs exactly one field in fields")
        if self.fields is not None and self.binary is Binary.BASE64:
            raise ValueError("binary = 'base64' applies to whole-value mappings, not fields")
        return self

    def transform_fingerprint(self) -> str:
        """A short hash of everything that shapes the payload (a changed table means drift)."""
        spec = {
            "fields": self.fields,
            "rename": self.rename,
            "format": self.field_format,
            "binary": self.binary.value,
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _backend_spec(value: Any) -> Any:
    return {"url": value} if isinstance(value, str) else value


class MappingTable(_Frozen):
    """Every mapping of one secretsync deployment."""

    owner: str = Field(default="skybridge-secretsync", min_length=1, max_length=128)
    backends: dict[str, BackendSpec] = Field(default_factory=dict)
    mappings: list[SecretMapping] = Field(default_factory=list)

    @field_validator("backends", mode="before")
    @classmethod
    def _backends(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _backend_spec(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _references(self) -> Self:
        counts = Counter(m.name for m in self.mappings)
        dupes = sorted(n for n, count in counts.items() if count > 1)
        if dupes:
            raise ValueError(f"mapping names must be unique: {', '.join(dupes)}")
        targets: dict[tuple[str, str], str] = {}
        for mapping in self.mappings:
            for pointer in (mapping.source, mapping.target):
                self.scheme_of(pointer.backend, mapping.name)
            self._check_target_name(mapping)
            key = (mapping.target.backend, mapping.target.secret)
            if key in targets:
                raise ValueError(
                    f"mappings '{targets[key]}' and '{mapping.name}' write the same target "
                    f"{mapping.target}; give each target one source"
                )
            targets[key] = mapping.name
        for name, spec in self.backends.items():
            if spec.credentials_from is not None:
                self.scheme_of(spec.credentials_from.backend, f"backends.{name}")
        return self

    def scheme_of(self, backend: str, where: str) -> str:
        """The URL scheme of ``backend`` (a name from ``backends`` or a URL)."""
        if "://" in backend:
            return _check_scheme(backend, f"{where}: ")
        if backend not in self.backends:
            known = ", ".join(sorted(self.backends)) or "none defined"
            raise ValueError(
                f"{where}: backend '{backend}' is not in [backends] ({known}); "
                "add it there or write a secrets URL"
            )
        return self.backends[backend].scheme

    def _check_target_name(self, mapping: SecretMapping) -> None:
        secret = mapping.target.secret
        rule = NAME_RULES.get(self.scheme_of(mapping.target.backend, mapping.name))
        if rule is None or secret.startswith(_IDS):
            return
        pattern, words = rule
        if not pattern.fullmatch(secret):
            raise ValueError(
                f"mapping '{mapping.name}': target name '{secret[:80]}' is not allowed by "
                f"{mapping.target.backend}; use {words}"
            )

    def mapping(self, name: str) -> SecretMapping:
        """The mapping called ``name`` (KeyError if none)."""
        for mapping in self.mappings:
            if mapping.name == name:
                return mapping
        raise KeyError(name)

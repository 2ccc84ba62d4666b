"""``oci-vault://<vault-ocid>?key=<key-ocid>&compartment=<ocid>&region=..&endpoint=..``: OCI Vault.

Management goes through ``VaultsClient``, values through ``SecretsClient`` bundles. Every version
skybridge writes is *named* after its version id, and OCI refuses a second version with the same
name; ``UpdateSecret`` has no retry token, so this is what makes a retried or redelivered write
safe (see :class:`~skybridge.backends.secrets.base.SecretStore`). OCI stores content as base64
and metadata per secret, so the names of binary versions are kept under the reserved metadata key
``skybridge:binary-versions`` (hidden from ``metadata``). Deleted names stay reserved until the
deletion completes; only DEPRECATED versions can be deleted; at most 30 versions are active.

URL options: ``key`` (needed to create), ``compartment`` (default: the tenancy), ``region``,
``endpoint``, ``profile``, ``config_file``, ``auth=instance_principal|resource_principal``,
``max_value_size`` (default 25000), ``audit_endpoint``, ``change_feed=false``.

Capability ``change_feed``: :meth:`changed_since` reads the compartment's OCI Audit events
(:mod:`~skybridge.backends.secrets.oci_audit`); it needs ``read audit-events`` there.
Keyword options: ``config=`` (oci config dict), ``retry=`` (a
:class:`~skybridge.core.retry.RetryPolicy` or ``None``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from oci.secrets.models import SecretBundle
from oci.vault.models import (
    CreateSecretDetails,
    ScheduleSecretDeletionDetails,
    ScheduleSecretVersionDeletionDetails,
    UpdateSecretDetails,
)

from skybridge.backends.secrets.base import SecretStore
from skybridge.backends.secrets.oci_audit import read_feed
from skybridge.backends.secrets.oci_calls import OciCalls, user_metadata, version_info
from skybridge.backends.secrets.oci_clients import build_clients
from skybridge.backends.secrets.oci_content import (
    encode_content,
    version_from_bundle,
    with_value_type,
)
from skybridge.backends.secrets.oci_errors import PreconditionFailed
from skybridge.backends.secrets.types import (
    ChangeFeed,
    SecretInfo,
    SecretRef,
    SecretValue,
    SecretVersion,
    VersionInfo,
)
from skybridge.core.clock import SYSTEM_CLOCK, Clock
from skybridge.core.errors import ConfigError, Conflict, NotFound, ValidationError
from skybridge.core.retry import RetryPolicy
from skybridge.core.urls import BackendURL

DEFAULT_RETRY = RetryPolicy(attempts=3, base_delay=0.2, max_delay=2.0, deadline=20.0)
_DELETING = {"PENDING_DELETION", "SCHEDULING_DELETION", "DELETING", "DELETED"}
_OCID = re.compile(r"^ocid1\.")
#: The stages a bundle can be read by (GetSecretBundle's ``stage``).
_STAGES = frozenset({"CURRENT", "PENDING", "LATEST", "PREVIOUS", "DEPRECATED"})


class OciVault(SecretStore):
    """Secrets in one OCI vault, encrypted with one master key."""

    scheme = "oci-vault"
    capabilities = frozenset({"version_deletion", "change_feed"})
    default_max_value_size = 25000
    name_pattern = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")
    name_rule = "1-255 characters from A-Z a-z 0-9 - _ ."
    id_pattern = _OCID
    id_rule = "an OCID (ocid1.…)"
    max_active_versions = 30
    recovery_days_range = (1, 30)

    def __init__(
        self,
        vaults: Any,
        secrets: Any,
        *,
        vault_id: str,
        compartment_id: str,
        key_id: str | None = None,
        max_value_size: int | None = None,
        retry: RetryPolicy | None = DEFAULT_RETRY,
        version_deletion_days: int = 1,
        clock: Clock = SYSTEM_CLOCK,
        audit: Any = None,
        principal_id: str | None = None,
    ) -> None:
        super().__init__(max_value_size=max_value_size)
        low, high = self.recovery_days_range
        if not low <= version_deletion_days <= high:
            raise ConfigError(
                f"version_deletion_days={version_deletion_days} is outside OCI's {low}-{high} days",
                setting="backends.secrets",
            )
        self.vault_id, self.key_id, self.compartment_id = vault_id, key_id, compartment_id
        # Pruned versions count against OCI's 30 pending-deletion versions until they are gone,
        # so they are deleted as soon as OCI allows (1 day) unless the URL asks for longer.
        self.version_deletion_days = version_deletion_days
        self._clock = clock
        self._oci = OciCalls(vaults, secrets, retry, audit)
        self._principal_id = principal_id
        self._ids: dict[str, str] = {}  # name -> OCID of the live secret
        self._names: dict[str, str] = {}  # OCID -> name

    @classmethod
    def from_url(cls, url: BackendURL, **options: Any) -> Self:
        config = options.pop("config", None)
        clients = build_clients(url.params, config)
        vault_id = url.rest.strip("/")
        compartment = url.params.get("compartment") or (
            config or clients.vaults.base_client.config
        ).get("tenancy")
        if not vault_id or not compartment:
            raise ConfigError(
                "oci-vault:// needs a vault OCID and a compartment",
                setting="backends.secrets",
                hint="oci-vault://<vault-ocid>?key=<key-ocid>&compartment=<compartment-ocid>",
            )
        size = options.pop("max_value_size", url.params.get("max_value_size"))
        days = options.pop("version_deletion_days", url.params.get("version_deletion_days", 1))
        return cls(
            clients.vaults,
            clients.secrets,
            audit=clients.audit,
            principal_id=clients.principal_id,
            vault_id=vault_id,
            compartment_id=compartment,
            key_id=url.params.get("key") or None,
            max_value_size=int(size) if size else None,
            version_deletion_days=int(days),
            **options,
        )

    def __repr__(self) -> str:
        return f"OciVault(vault_id={self.vault_id!r})"

    def supports(self, capability: str) -> bool:
        if capability == "change_feed" and self._oci.audit is None:
            return False  # built without an Audit client (?change_feed=false)
        return super().supports(capability)

    @property
    def principal_id(self) -> str | None:
        return self._principal_id

    def _changed_since(self, since: datetime, until: datetime) -> ChangeFeed:
        def pages(compartment: str, start: datetime, end: datetime) -> Iterator[Any]:
            return self._oci.pages(
                "ListEvents", compartment, "list_events", compartment, start, end, client="audit"
            )

        return read_feed(pages, self.compartment_id, self.vault_id, since, until, self._names.get)

    def ping(self) -> None:
        self._oci.vault("ListSecrets", "*", "list_secrets", self.compartment_id, limit=1)

    # ----------------------------------------------------------------- resolution
    def _secret_model(self, secret: str, *, live: bool = True) -> tuple[Any, str]:
        """``(oci Secret model, etag)``; NotFound for unknown (and, when ``live``, deleting)."""
        cached = self._ids.get(secret)
        secret_id = secret if self.is_secret_id(secret) else cached or self._resolve(secret)
        try:
            response = self._oci.vault("GetSecret", secret, "get_secret", secret_id)
        except NotFound:
            if cached is None:
                raise
            self._ids.pop(secret, None)  # stale cache entry: look the name up again
            return self._secret_model(secret, live=live)
        model = response.data
        state = model.lifecycle_state
        if state == "DELETED" or (live and state in _DELETING):
            self._ids.pop(model.secret_name, None)
            raise NotFound(f"secret '{secret}' is scheduled for deletion ({state})")
        self._names[model.id] = model.secret_name
        if state not in _DELETING:
            self._ids[model.secret_name] = model.id
        return model, response.headers.get("etag", "")

    def _resolve(self, name: str) -> str:
        found = [s for s in self._summaries(name=name) if s.lifecycle_state != "DELETED"]
        if not found:
            raise NotFound(f"secret '{name}' not found in vault {self.vault_id}")
        found.sort(key=lambda s: s.lifecycle_state in _DELETING)  # a live one first
        return str(found[0].id)

    def _summaries(self, **filters: Any) -> Iterator[Any]:
        what = str(filters.get("name", "*"))
        yield from self._oci.pages(
            "ListSecrets",
            what,
            "list_secrets",
            self.compartment_id,
            vault_id=self.vault_id,
            **filters,
        )

    def _name_of(self, secret_id: str) -> str:
        if secret_id not in self._names:
            self._secret_model(secret_id, live=False)
        return self._names[secret_id]

    # ----------------------------------------------------------------- primitives
    def _create(
        self,
        name: str,
        value: SecretValue,
        version_id: str,
        description: str | None,
        metadata: Mapping[str, str],
    ) -> SecretVersion:
        if not self.key_id:
            raise ConfigError("oci-vault:// needs ?key=<key-ocid> to create secrets")
        details = CreateSecretDetails(
            compartment_id=self.compartment_id,
            vault_id=self.vault_id,
            key_id=self.key_id,
            secret_name=name,
            description=description,
            metadata=with_value_type(dict(metadata), {}, value, version_id),
            secret_content=encode_content(value, version_id),
        )
        # One token per call: its own retries are replayed, while a later create of the same
        # name and version is a new request. (OCI keeps a token 24 hours, and a deleted secret's
        # token replays its creation: a token derived from the name and version made a create
        # after a delete "succeed" with the secret still pending deletion.) A create sent again
        # by a redelivery meets the name taken, and the caller reads the version back.
        token = uuid.uuid4().hex
        try:
            data = self._oci.vault(
                "CreateSecret", name, "create_secret", details, opc_retry_token=token
            ).data
        except Conflict as exc:
            raise self._name_taken(name, exc) from None
        if data.lifecycle_state in _DELETING:
            raise self._name_taken(name, Conflict(f"secret '{name}' is {data.lifecycle_state}"))
        self._ids[name], self._names[data.id] = data.id, name
        info = version_info(version_id, ["CURRENT", "LATEST"], None, data.current_version_number)
        return SecretVersion(SecretRef(name, data.id), info, value, dict(metadata))

    def _name_taken(self, name: str, exc: Conflict) -> Conflict:
        holders = [s for s in self._summaries(name=name) if s.lifecycle_state in _DELETING]
        if not holders or holders[0].lifecycle_state == "DELETED":
            return Conflict(f"secret '{name}' already exists in vault {self.vault_id}")
        until = holders[0].time_of_deletion
        return Conflict(
            f"secret name '{name}' is reserved by a secret pending deletion until {until}",
            hint="OCI keeps a deleted secret's name until the deletion completes; cancel the "
            "deletion (CancelSecretDeletion) or use another name",
        )

    def _put_value(
        self, secret: str, value: SecretValue, version_id: str, metadata: Mapping[str, str]
    ) -> SecretVersion:
        for _ in range(3):
            model, etag = self._secret_model(secret)
            meta = with_value_type(dict(model.metadata or {}), metadata, value, version_id)
            details = UpdateSecretDetails(
                secret_content=encode_content(value, version_id), metadata=meta
            )
            try:
                data = self._oci.vault(
                    "UpdateSecret", secret, "update_secret", model.id, details, if_match=etag
                ).data
            except PreconditionFailed:  # changed meanwhile (maybe by our own earlier attempt)
                continue
            info = version_info(
                version_id, ["CURRENT", "LATEST"], None, data.current_version_number
            )
            ref = SecretRef(model.secret_name, model.id)
            return SecretVersion(ref, info, value, user_metadata(meta))
        raise Conflict(f"secret '{secret}' kept changing while writing; try again")

    def _get_value(self, secret: str, version_id: str | None, stage: str | None) -> SecretVersion:
        selector: dict[str, Any] = {}
        if version_id is not None:
            selector["secret_version_name"] = version_id
        if stage is not None:
            if stage.upper() not in _STAGES:
                raise ValidationError(
                    f"OCI Vault has no stage '{stage[:40]}'",
                    hint=f"use one of {', '.join(sorted(_STAGES))} (any case)",
                )
            selector["stage"] = stage.upper()
        try:
            bundle = self._bundle(secret, selector)
        except NotFound:
            if not (version_id and version_id.isdigit()):
                raise
            bundle = self._bundle(secret, {"version_number": int(version_id)})
        name = self._name_of(bundle.secret_id) if self.is_secret_id(secret) else secret
        return version_from_bundle(SecretRef(name, bundle.secret_id), bundle)

    def _bundle(self, secret: str, selector: dict[str, Any]) -> SecretBundle:
        if self.is_secret_id(secret):
            call: tuple[Any, ...] = ("get_secret_bundle", secret)
        else:
            call = ("get_secret_bundle_by_name", secret, self.vault_id)
        operation = "GetSecretBundle" if len(call) == 2 else "GetSecretBundleByName"
        try:
            return self._oci.bundle(operation, secret, *call, **selector).data
        except NotFound:
            what = selector or {"stage": "CURRENT"}
            raise NotFound(f"secret '{secret}' has no readable version {what}") from None

    def _describe(self, secret: str) -> SecretInfo:
        model, _ = self._secret_model(secret, live=False)
        versions = sorted(
            (
                version_info(
                    v.name or str(v.version_number),
                    v.stages or [],
                    v.time_created,
                    v.version_number,
                    v.time_of_deletion,
                )
                for v in self._oci.pages(
                    "ListSecretVersions", secret, "list_secret_versions", model.id
                )
            ),
            key=lambda v: v.number or 0,
        )
        deleting = model.lifecycle_state in _DELETING
        return SecretInfo(
            ref=SecretRef(model.secret_name, model.id),
            description=model.description,
            metadata=user_metadata(model.metadata),
            versions=tuple(versions),
            created=model.time_created,
            deletion_date=model.time_of_deletion if deleting else None,
        )

    def _list(self, prefix: str | None) -> Iterator[SecretRef]:
        for summary in self._summaries(sort_by="NAME", sort_order="ASC"):
            if summary.lifecycle_state in _DELETING:
                continue
            if summary.secret_name.startswith(prefix or ""):
                yield SecretRef(summary.secret_name, summary.id)

    def _update_metadata(self, secret: str, set_: Mapping[str, str], remove: set[str]) -> None:
        for _ in range(3):
            model, etag = self._secret_model(secret)
            meta = {**(model.metadata or {}), **set_}
            for key in remove:
                meta.pop(key, None)
            details = UpdateSecretDetails(metadata=meta)
            try:
                self._oci.vault(
                    "UpdateSecret", secret, "update_secret", model.id, details, if_match=etag
                )
                return
            except PreconditionFailed:
                continue
        raise Conflict(f"secret '{secret}' kept changing while updating metadata; try again")

    def _delete(self, secret: str, recovery_days: int | None, force: bool) -> None:
        model, etag = self._secret_model(secret)
        when = self._deletion_time(recovery_days or self.default_recovery_days)
        details = ScheduleSecretDeletionDetails(time_of_deletion=when)
        self._oci.vault(
            "ScheduleSecretDeletion",
            secret,
            "schedule_secret_deletion",
            model.id,
            details,
            if_match=etag,
            retry=False,
        )
        self._ids.pop(model.secret_name, None)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), UTC)

    def _deletion_time(self, days: int) -> datetime:
        """``days`` from now, kept inside OCI's window of 1 to 30 days by a margin, so that
        neither the time the request takes nor clock skew puts it outside (OCI refuses a time
        of deletion under one day or over 30 days away when the request arrives)."""
        low, high = timedelta(days=1, minutes=5), timedelta(days=30, minutes=-5)
        return self._now() + min(max(timedelta(days=days), low), high)

    def _schedule_version_deletion(self, secret: str, version_id: str) -> None:
        model, _ = self._secret_model(secret)
        version = self._find_version(secret, version_id)
        if not version.is_deprecated or "latest" in version.stages:
            raise Conflict(
                f"version '{version_id}' of secret '{secret}' is {'/'.join(version.native_stages)}",
                hint="only DEPRECATED versions can be deleted",
            )
        self._schedule_numbers(secret, model.id, [version])

    def _schedule_versions_deletion(self, secret: str, versions: list[VersionInfo]) -> None:
        model, _ = self._secret_model(secret)
        self._schedule_numbers(secret, model.id, versions)

    def _schedule_numbers(self, secret: str, secret_id: str, versions: list[VersionInfo]) -> None:
        when = self._deletion_time(self.version_deletion_days)
        for version in versions:
            self._oci.vault(
                "ScheduleSecretVersionDeletion",
                secret,
                "schedule_secret_version_deletion",
                secret_id,
                version.number,
                ScheduleSecretVersionDeletionDetails(time_of_deletion=when),
                retry=False,
            )

    def _find_version(self, secret: str, version_id: str) -> VersionInfo:
        for version in self.list_versions(secret):
            if version.version_id == version_id or str(version.number) == version_id:
                return version
        raise NotFound(f"secret '{secret}' has no version '{version_id}'")

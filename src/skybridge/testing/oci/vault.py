"""OCI Vault secrets: secrets, versions, rotation stages, deletion scheduling and limits.

Pure state; :mod:`vault_api` and :mod:`secrets_api` map it to the REST API. Lookups by name go
through an index and scheduled deletions through a heap of due times, so no call scans every
secret (a tenancy may hold 5,000).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
from dataclasses import dataclass, field
from typing import Any

from skybridge.core.clock import Clock
from skybridge.testing.oci import errors
from skybridge.testing.oci.ids import etag_of, ocid, parse_rfc3339
from skybridge.testing.oci.stages import DEPRECATED, make_current, make_pending

MAX_ACTIVE_VERSIONS = 30
MAX_PENDING_DELETION_VERSIONS = 30
MAX_SECRET_BYTES = 25 * 1024  # the commonly cited bundle limit (not confirmed by a citable doc)
DAY = 86400.0
DELETION_WINDOW = (1 * DAY, 30 * DAY)
DEFAULT_DELETION_DELAY = 30 * DAY
#: How long OCI replays a create for its opc-retry-token (24 hours).
RETRY_TOKEN_SECONDS = 1 * DAY
_seq = itertools.count()


@dataclass
class SecretVersion:
    number: int
    content: str  # base64, as sent
    created: float
    stages: list[str]
    name: str | None = None
    time_of_deletion: float | None = None


@dataclass
class Secret:
    id: str
    name: str
    compartment_id: str
    vault_id: str
    key_id: str
    created: float
    description: str | None = None
    metadata: dict[str, Any] | None = None
    freeform_tags: dict[str, str] = field(default_factory=dict)
    defined_tags: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: str = "ACTIVE"
    time_of_deletion: float | None = None
    versions: list[SecretVersion] = field(default_factory=list)
    revision: int = 0
    order: int = field(default_factory=lambda: next(_seq))

    @property
    def etag(self) -> str:
        return etag_of(self.id, self.revision)

    @property
    def current(self) -> SecretVersion | None:
        return next((v for v in self.versions if "CURRENT" in v.stages), None)

    def version(self, number: int) -> SecretVersion:
        for version in self.versions:
            if version.number == number:
                return version
        raise errors.not_found(f"Secret version {number}")

    def active_versions(self) -> list[SecretVersion]:
        return [v for v in self.versions if v.time_of_deletion is None]


def decode_content(details: dict[str, Any]) -> str:
    """Validate ``secretContent`` (BASE64 only) and return its base64 text."""
    if details.get("contentType", "BASE64") != "BASE64":
        raise errors.invalid("secretContent.contentType must be BASE64")
    content = details.get("content")
    if not isinstance(content, str):
        raise errors.missing("secretContent.content")
    try:
        raw = base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        raise errors.invalid("secretContent.content is not valid base64") from None
    if len(raw) > MAX_SECRET_BYTES:
        raise errors.invalid(f"Secret content exceeds the maximum size of {MAX_SECRET_BYTES} bytes")
    return content


def name_taken() -> errors.ApiError:
    # The real service answers both a taken secret name and a taken version name this way
    # (oracle/terraform-provider-oci#1913, external-secrets/external-secrets#6771).
    return errors.invalid("name already exists")


class VaultStore:
    """Vaults, their keys and their secrets for one emulated tenancy."""

    def __init__(self, clock: Clock, region: str) -> None:
        self.clock = clock
        self.region = region
        self.keys: dict[str, str] = {}  # key id -> vault id
        self.vaults: dict[str, str] = {}  # vault id -> compartment id
        self.secrets: dict[str, Secret] = {}
        #: token -> (body hash, secret id, time used): replayed for RETRY_TOKEN_SECONDS
        self.retry_tokens: dict[str, tuple[str, str, float]] = {}
        self._named: dict[tuple[str, str], str] = {}  # (vault id, name) -> id, while not DELETED
        self._due: list[tuple[float, int, str]] = []  # (deletion time, seq, secret id) heap

    def create_vault(self, compartment_id: str) -> tuple[str, str]:
        vault_id = ocid("vault", self.region)
        key_id = ocid("key", self.region)
        self.vaults[vault_id] = compartment_id
        self.keys[key_id] = vault_id
        return vault_id, key_id

    def expire(self) -> None:
        """Apply deletions whose time has come (the real service does this in the background).

        Only secrets with a deletion due are visited; a cancelled deletion leaves a stale heap
        entry that finds nothing to do.
        """
        now = self.clock.now()
        while self._due and self._due[0][0] <= now:
            _, _, secret_id = heapq.heappop(self._due)
            secret = self.secrets.get(secret_id)
            if secret is not None:
                self._expire(secret, now)

    def _expire(self, secret: Secret, now: float) -> None:
        if secret.state == "PENDING_DELETION" and (secret.time_of_deletion or 0) <= now:
            secret.state = "DELETED"
            secret.revision += 1
            self._named.pop((secret.vault_id, secret.name), None)
        secret.versions = [
            v for v in secret.versions if v.time_of_deletion is None or v.time_of_deletion > now
        ]

    def _schedule(self, secret: Secret, when: float) -> None:
        heapq.heappush(self._due, (when, next(_seq), secret.id))

    def get(self, secret_id: str) -> Secret:
        self.expire()
        secret = self.secrets.get(secret_id)
        if secret is None:
            raise errors.not_found(f"Secret {secret_id}")
        return secret

    def by_name(self, vault_id: str, name: str) -> Secret | None:
        """The secret holding ``name`` in ``vault_id``; DELETED secrets release their names."""
        self.expire()
        secret_id = self._named.get((vault_id, name))
        return None if secret_id is None else self.secrets[secret_id]

    def create(self, body: dict[str, Any]) -> Secret:
        for required in ("compartmentId", "secretName", "vaultId", "keyId", "secretContent"):
            if not body.get(required):
                raise errors.missing(required)
        vault_id, key_id = body["vaultId"], body["keyId"]
        if vault_id not in self.vaults:
            raise errors.not_found(f"Vault {vault_id}")
        if self.keys.get(key_id) != vault_id:
            raise errors.not_found(f"Key {key_id}")
        content_details = body["secretContent"]
        if content_details.get("stage", "CURRENT") != "CURRENT":
            raise errors.invalid("The first secret version must be CURRENT")
        content = decode_content(content_details)
        if self.by_name(vault_id, body["secretName"]) is not None:
            raise name_taken()
        now = self.clock.now()
        secret = Secret(
            id=ocid("vaultsecret", self.region),
            name=body["secretName"],
            compartment_id=body["compartmentId"],
            vault_id=vault_id,
            key_id=key_id,
            created=now,
            description=body.get("description"),
            metadata=body.get("metadata"),
            freeform_tags=body.get("freeformTags") or {},
            defined_tags=body.get("definedTags") or {},
        )
        version = SecretVersion(1, content, now, ["CURRENT", "LATEST"], content_details.get("name"))
        secret.versions.append(version)
        self.secrets[secret.id] = secret
        self._named[vault_id, secret.name] = secret.id
        return secret

    def update(self, secret: Secret, body: dict[str, Any]) -> None:
        if secret.state != "ACTIVE":
            raise errors.incorrect_state(f"Secret is in state {secret.state}; it must be ACTIVE")
        if body.get("secretContent") and body.get("currentVersionNumber") is not None:
            raise errors.invalid(
                "secretContent and currentVersionNumber cannot be updated together"
            )
        if body.get("secretContent"):
            self._add_version(secret, body["secretContent"])
        elif body.get("currentVersionNumber") is not None:
            self._promote(secret, int(body["currentVersionNumber"]))
        for key, attr in (("description", "description"), ("metadata", "metadata")):
            if key in body and body[key] is not None:
                setattr(secret, attr, body[key])
        if body.get("freeformTags") is not None:
            secret.freeform_tags = body["freeformTags"]
        if body.get("definedTags") is not None:
            secret.defined_tags = body["definedTags"]
        secret.revision += 1

    def _add_version(self, secret: Secret, details: dict[str, Any]) -> None:
        content = decode_content(details)
        stage = details.get("stage", "CURRENT")
        if stage not in ("CURRENT", "PENDING"):
            raise errors.invalid("secretContent.stage must be CURRENT or PENDING")
        name = details.get("name")
        if name is not None and any(v.name == name for v in secret.versions):
            raise name_taken()
        if len(secret.active_versions()) >= MAX_ACTIVE_VERSIONS:
            raise errors.limit_exceeded(
                f"Secret already has the maximum of {MAX_ACTIVE_VERSIONS} versions in use; "
                "schedule deletion of deprecated versions first"
            )
        number = max(v.number for v in secret.versions) + 1
        version = SecretVersion(number, content, self.clock.now(), [], name)
        secret.versions.append(version)
        (make_current if stage == "CURRENT" else make_pending)(secret.versions, version)

    def _promote(self, secret: Secret, number: int) -> None:
        version = secret.version(number)
        if version.time_of_deletion is not None:
            raise errors.incorrect_state(f"Secret version {number} is pending deletion")
        make_current(secret.versions, version)

    def schedule_deletion(self, secret: Secret, when: str | None) -> None:
        if secret.state != "ACTIVE":
            raise errors.incorrect_state(f"Secret is in state {secret.state}; it must be ACTIVE")
        secret.time_of_deletion = self._deletion_time(when)
        secret.state = "PENDING_DELETION"
        secret.revision += 1
        self._schedule(secret, secret.time_of_deletion)

    def cancel_deletion(self, secret: Secret) -> None:
        if secret.state != "PENDING_DELETION":
            raise errors.incorrect_state(f"Secret is in state {secret.state}, not PENDING_DELETION")
        secret.time_of_deletion = None
        secret.state = "ACTIVE"
        secret.revision += 1

    def schedule_version_deletion(self, secret: Secret, number: int, when: str | None) -> None:
        if secret.state != "ACTIVE":
            raise errors.incorrect_state(f"Secret is in state {secret.state}; it must be ACTIVE")
        version = secret.version(number)
        if version.stages != [DEPRECATED] or version.time_of_deletion is not None:
            raise errors.incorrect_state(
                f"Only DEPRECATED versions can be deleted; version {number} is "
                f"{'/'.join(version.stages)}"
                + (" and already pending deletion" if version.time_of_deletion else "")
            )
        pending = len(secret.versions) - len(secret.active_versions())
        if pending >= MAX_PENDING_DELETION_VERSIONS:
            raise errors.limit_exceeded(
                f"Secret already has {MAX_PENDING_DELETION_VERSIONS} versions pending deletion"
            )
        version.time_of_deletion = self._deletion_time(when)
        secret.revision += 1
        self._schedule(secret, version.time_of_deletion)

    def cancel_version_deletion(self, secret: Secret, number: int) -> None:
        version = secret.version(number)
        if version.time_of_deletion is None:
            raise errors.incorrect_state(f"Secret version {number} is not pending deletion")
        if len(secret.active_versions()) >= MAX_ACTIVE_VERSIONS:
            raise errors.limit_exceeded(f"Secret already has {MAX_ACTIVE_VERSIONS} versions in use")
        version.time_of_deletion = None
        secret.revision += 1

    def _deletion_time(self, when: str | None) -> float:
        now = self.clock.now()
        if not when:
            return now + DEFAULT_DELETION_DELAY
        try:
            at = parse_rfc3339(when)
        except ValueError:
            raise errors.invalid("timeOfDeletion must be an RFC 3339 timestamp") from None
        low, high = DELETION_WINDOW
        if not now + low <= at <= now + high:
            raise errors.invalid("timeOfDeletion must be between 1 and 30 days from now")
        return at

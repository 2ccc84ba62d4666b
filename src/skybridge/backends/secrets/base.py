"""The secrets contract: a few primitives per backend, the rest derived here.

A backend implements ``_create``, ``_put_value``, ``_get_value``, ``_describe``, ``_list``,
``_update_metadata`` and ``_delete``. Bulk reads (``batch_get_values``, ``describe_many``) loop
over the primitives unless a backend overrides ``_batch_get_values`` / ``_describe_many`` with
its service's bulk call. Optional features are capabilities:

* ``version_deletion``: single versions can be scheduled for deletion (OCI, local).
* ``force_delete``: a secret can be deleted without a recovery window (AWS, local).
* ``native_batch_get``: ``batch_get_values`` uses one call for many secrets (AWS).
* ``change_feed``: ``changed_since`` lists the secrets changed in a time window, and by whom
  (OCI, from the Audit service), so a reader can skip secrets nobody touched.

Writes are idempotent on ``version_id``: writing the same id again with the same value returns
the existing version and changes nothing; with another value it raises :class:`VersionExists`
(a :class:`~skybridge.core.errors.Conflict`). That makes redelivered events safe on every
backend, including OCI, whose ``UpdateSecret`` has no retry token.
"""

from __future__ import annotations

import builtins
import re
import uuid
from abc import abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import ClassVar

from skybridge.backends.secrets.types import (
    CURRENT,
    DEPRECATED,
    PENDING,
    PREVIOUS,
    ChangeFeed,
    SecretInfo,
    SecretRef,
    SecretValue,
    SecretVersion,
    VersionInfo,
)
from skybridge.core.backend import Backend
from skybridge.core.errors import Conflict, NotFound, ValidationError
from skybridge.core.secret import Secret

_VERSION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_STAGE_ALIASES = {CURRENT: CURRENT, PENDING: PENDING, PREVIOUS: PREVIOUS, DEPRECATED: DEPRECATED}


class VersionExists(Conflict):
    """The version id is already used by this secret (for a different value)."""


class VersionLimitReached(Conflict):
    """The secret holds as many active versions as the service allows (OCI: 30).

    ``prune_versions`` frees room by scheduling deletion of deprecated versions.
    """


class SecretStore(Backend):
    """A store of versioned secret values (local file, AWS Secrets Manager, OCI Vault)."""

    #: URL scheme of the implementation, used in messages.
    scheme: ClassVar[str] = "secrets"
    #: Largest value (in bytes) a write may carry; instances may override it.
    default_max_value_size: ClassVar[int] = 65536
    #: Names this backend accepts, and the rule in words for error messages.
    name_pattern: ClassVar[re.Pattern[str]] = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
    name_rule: ClassVar[str] = "1-512 characters from A-Z a-z 0-9 / _ + = . @ -"
    #: The shape of this backend's secret ids (ARN, OCID, local id). A reference of that shape
    #: is looked up by id only, and no secret may be named with it, so a name never shadows
    #: another secret's id.
    id_pattern: ClassVar[re.Pattern[str] | None] = None
    #: ``id_pattern`` in words, for error messages.
    id_rule: ClassVar[str] = ""
    #: Most versions that may be active at once (OCI: 30); ``None`` when the service prunes.
    max_active_versions: ClassVar[int | None] = None
    #: Allowed recovery window for ``delete`` and its default, in days.
    recovery_days_range: ClassVar[tuple[int, int]] = (7, 30)
    default_recovery_days: ClassVar[int] = 30

    def __init__(self, *, max_value_size: int | None = None) -> None:
        self.max_value_size = int(max_value_size or self.default_max_value_size)

    # ----------------------------------------------------------------- primitives
    @abstractmethod
    def _create(
        self,
        name: str,
        value: SecretValue,
        version_id: str,
        description: str | None,
        metadata: Mapping[str, str],
    ) -> SecretVersion:
        """Create a secret whose first version is ``version_id``; Conflict if the name is taken."""

    @abstractmethod
    def _put_value(
        self, secret: str, value: SecretValue, version_id: str, metadata: Mapping[str, str]
    ) -> SecretVersion:
        """Write a new current version; raise :class:`VersionExists` if the id is taken.

        A backend may instead return the existing version when its service has decided the
        write was a no-op (AWS does for the same token and value). ``metadata`` is merged into
        the secret's metadata, in the same call where the service allows it.
        """

    @abstractmethod
    def _get_value(self, secret: str, version_id: str | None, stage: str | None) -> SecretVersion:
        """Read one version (current when neither ``version_id`` nor ``stage`` is given)."""

    @abstractmethod
    def _describe(self, secret: str) -> SecretInfo:
        """Describe a secret, including secrets scheduled for deletion."""

    @abstractmethod
    def _list(self, prefix: str | None) -> Iterator[SecretRef]:
        """Yield secrets not scheduled for deletion whose name starts with ``prefix``."""

    @abstractmethod
    def _update_metadata(self, secret: str, set_: Mapping[str, str], remove: set[str]) -> None:
        """Merge ``set_`` into the metadata and drop the keys in ``remove``."""

    @abstractmethod
    def _delete(self, secret: str, recovery_days: int | None, force: bool) -> None:
        """Schedule deletion after ``recovery_days``, or delete at once when ``force``."""

    def _schedule_version_deletion(self, secret: str, version_id: str) -> None:
        """Schedule deletion of one deprecated version (capability ``version_deletion``)."""
        raise self._unsupported("version_deletion")

    def _schedule_versions_deletion(
        self, secret: str, versions: builtins.list[VersionInfo]
    ) -> None:
        """Schedule deletion of several versions already known to be deprecated."""
        for version in versions:
            self._schedule_version_deletion(secret, version.version_id)

    def _changed_since(self, since: datetime, until: datetime) -> ChangeFeed:
        """The changes in ``[since, until)`` (capability ``change_feed``)."""
        raise self._unsupported("change_feed")

    def _batch_get_values(self, secrets: builtins.list[str]) -> dict[str, SecretVersion]:
        found: dict[str, SecretVersion] = {}
        for secret in secrets:
            try:
                found[secret] = self._get_value(secret, None, None)
            except NotFound:
                continue
        return found

    def _describe_many(self, secrets: builtins.list[str]) -> dict[str, SecretInfo]:
        found: dict[str, SecretInfo] = {}
        for secret in secrets:
            try:
                found[secret] = self._describe(secret)
            except NotFound:
                continue
        return found

    # ----------------------------------------------------------------- public API
    def create(
        self,
        name: str,
        value: SecretValue,
        *,
        version_id: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SecretVersion:
        """Create secret ``name`` with ``value`` as its first (current) version.

        Creating again with the same ``version_id`` and value returns the existing version, so
        a retried create is safe.

        Raises:
            Conflict: the name is taken (also while a deleted secret still reserves it).
            ValidationError: bad name, version id, metadata or a value over ``max_value_size``.
        """
        self._check_name(name)
        self._check_value(value, name)
        vid = self._version_id(version_id)
        meta = self._check_metadata(metadata or {})
        try:
            return self._create(name, value, vid, description, meta)
        except Conflict as exc:
            if version_id is None:
                raise
            try:  # a retried create of the same version is fine
                return self._existing_version(name, value, vid, meta)
            except NotFound:
                raise exc from None

    def put_value(
        self,
        secret: str,
        value: SecretValue,
        *,
        version_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SecretVersion:
        """Write ``value`` as the new current version of ``secret`` (name or id).

        Args:
            secret: Name or backend id (ARN, OCID) of an existing secret.
            value: Text or binary value; its type is preserved on read.
            version_id: Idempotency key and version name (for a sync: the source VersionId).
            metadata: Merged into the secret's metadata with the write.

        Returns:
            The new version, or the existing one when ``version_id`` was already written with
            the same value (nothing is changed then, apart from applying ``metadata``).

        Raises:
            VersionExists: ``version_id`` already holds a different value.
            NotFound: no such secret (or it is scheduled for deletion).
        """
        self._check_value(value, secret)
        vid = self._version_id(version_id)
        meta = self._check_metadata(metadata or {})
        try:
            return self._put_value(secret, value, vid, meta)
        except VersionExists:
            return self._existing_version(secret, value, vid, meta)

    def upsert_value(
        self,
        name: str,
        value: SecretValue,
        *,
        version_id: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SecretVersion:
        """Put ``value`` into ``name``, creating the secret first if it does not exist."""
        try:
            return self.put_value(name, value, version_id=version_id, metadata=metadata)
        except NotFound:
            pass
        try:
            return self.create(
                name, value, version_id=version_id, description=description, metadata=metadata
            )
        except VersionExists:
            raise
        except Conflict as exc:  # another writer created it meanwhile, or the name is reserved
            try:
                return self.put_value(name, value, version_id=version_id, metadata=metadata)
            except NotFound:
                raise exc from None

    def get_value(
        self, secret: str, *, version_id: str | None = None, stage: str | None = None
    ) -> SecretVersion:
        """Read the current version, or the one named by ``version_id`` or ``stage``.

        ``stage`` is a normalised stage (``current``, ``pending``, ``previous``) or a native
        label (``AWSPREVIOUS``). ``version_id`` and ``stage`` are mutually exclusive.
        """
        if version_id is not None and stage is not None:
            raise ValidationError("give version_id or stage, not both")
        return self._get_value(secret, version_id, self._stage(stage))

    def describe(self, secret: str) -> SecretInfo:
        """Name, id, metadata, versions with stages, and the deletion state of ``secret``."""
        return self._describe(secret)

    def describe_many(self, secrets: Iterable[str]) -> dict[str, SecretInfo]:
        """Describe many secrets at once; keys are the names or ids as given.

        Each description is what :meth:`describe` returns for that secret, so secrets scheduled
        for deletion are included (with ``deletion_date``); secrets that do not exist are left
        out. Backends with a bulk read use it where it pays off (AWS: ``ListSecrets``).

        Args:
            secrets: Names or backend ids (ARN, OCID); duplicates are described once.

        Raises:
            TransientError: a call failed and may succeed when retried (the whole batch).
        """
        wanted = list(dict.fromkeys(secrets))
        return self._describe_many(wanted) if wanted else {}

    def list(self, prefix: str | None = None) -> Iterator[SecretRef]:
        """Iterate over secrets (not scheduled for deletion) whose name starts with ``prefix``."""
        return self._list(prefix or None)

    def list_versions(self, secret: str) -> builtins.list[VersionInfo]:
        """Every version of ``secret`` that the backend still lists."""
        return list(self._describe(secret).versions)

    def update_metadata(self, secret: str, metadata: Mapping[str, str | None]) -> None:
        """Merge ``metadata`` into the secret's metadata; a ``None`` value removes the key."""
        set_ = {k: v for k, v in metadata.items() if v is not None}
        remove = {k for k, v in metadata.items() if v is None}
        self._update_metadata(secret, self._check_metadata(set_), remove)

    def delete(self, secret: str, *, recovery_days: int | None = None, force: bool = False) -> None:
        """Delete ``secret`` after a recovery window, or at once with ``force``.

        Raises:
            ValidationError: ``recovery_days`` outside ``recovery_days_range``, both given, or
                ``force`` on a backend without the ``force_delete`` capability.
        """
        if force:
            if recovery_days is not None:
                raise ValidationError("give recovery_days or force=True, not both")
            if not self.supports("force_delete"):
                raise self._unsupported("force_delete")
        else:
            low, high = self.recovery_days_range
            days = self.default_recovery_days if recovery_days is None else recovery_days
            if not low <= days <= high:
                raise ValidationError(
                    f"recovery_days must be between {low} and {high} for {self.scheme}://"
                )
            recovery_days = days
        self._delete(secret, recovery_days, force)

    def schedule_version_deletion(self, secret: str, version_id: str) -> None:
        """Schedule deletion of a deprecated version (capability ``version_deletion``).

        Raises:
            Conflict: the version still holds a stage (only deprecated versions may go).
            ValidationError: the backend lacks the capability.
        """
        if not self.supports("version_deletion"):
            raise self._unsupported("version_deletion")
        self._schedule_version_deletion(secret, version_id)

    def prune_versions(self, secret: str, *, max_active: int | None = None) -> builtins.list[str]:
        """Schedule deletion of the oldest deprecated versions until at most ``max_active``
        versions are active (default: ``max_active_versions``). Returns the ids scheduled.

        A writer that must stay under a hard limit calls this with ``limit - 1`` before writing.
        """
        limit = self.max_active_versions if max_active is None else max_active
        if limit is None or not self.supports("version_deletion"):
            return []
        active = [v for v in self.list_versions(secret) if v.is_active]
        excess = len(active) - limit
        candidates = [v for v in active if v.is_deprecated]
        candidates.sort(key=lambda v: (v.number or 0, v.created is None, v.created))
        chosen = candidates[: max(excess, 0)]
        if chosen:
            self._schedule_versions_deletion(secret, chosen)
        return [v.version_id for v in chosen]

    @property
    def principal_id(self) -> str | None:
        """Who this store acts as in a change feed (OCI: the API key's user), if known."""
        return None

    def changed_since(self, since: datetime, until: datetime | None = None) -> ChangeFeed:
        """The secrets changed between ``since`` and ``until`` (default: now), and by whom.

        Capability ``change_feed``. The feed may report changes late (OCI Audit: usually
        within 15 minutes), so callers re-read an overlap; it may also report changes to
        secrets this store did not create (same compartment), which callers ignore.

        Args:
            since: Start of the window (timezone-aware).
            until: End of the window (timezone-aware); now when ``None``.

        Raises:
            ValidationError: the backend lacks the capability, or a naive or empty window.
            TransientError: the feed could not be read now.
        """
        if not self.supports("change_feed"):
            raise self._unsupported("change_feed")
        end = until or datetime.now(UTC)
        if since.tzinfo is None or end.tzinfo is None:
            raise ValidationError("changed_since needs timezone-aware datetimes")
        if end <= since:
            raise ValidationError("changed_since: until must be later than since")
        return self._changed_since(since, end)

    def batch_get_values(self, secrets: Iterable[str]) -> dict[str, SecretVersion]:
        """Read the current value of many secrets; keys are the identifiers as given.

        Secrets that do not exist (or are scheduled for deletion) are left out of the result.
        """
        wanted = list(dict.fromkeys(secrets))
        return self._batch_get_values(wanted) if wanted else {}

    # ----------------------------------------------------------------- checks
    def _existing_version(
        self,
        secret: str,
        value: SecretValue,
        version_id: str,
        metadata: Mapping[str, str],
    ) -> SecretVersion:
        existing = self._get_value(secret, version_id, None)
        if existing.value.sha256() != value.sha256() or existing.is_binary != value.is_binary:
            raise VersionExists(
                f"version '{version_id}' of secret '{secret}' already holds a different value",
                hint="a version id can be written once; use a new version id",
            )
        if metadata:
            self._update_metadata(secret, metadata, set())
        return existing

    def is_secret_id(self, secret: str) -> bool:
        """Whether ``secret`` has the shape of this backend's ids (so it is looked up by id)."""
        return self.id_pattern is not None and self.id_pattern.match(secret) is not None

    def _check_name(self, name: str) -> None:
        if self.is_secret_id(name):
            raise ValidationError(
                f"'{name[:80]}' has the shape of a {self.scheme}:// secret id, so it cannot "
                "be a name (it would be read as an id)",
                hint=f"choose a name that is not {self.id_rule}",
            )
        if not self.name_pattern.fullmatch(name):
            raise ValidationError(
                f"'{name[:80]}' is not a valid secret name for {self.scheme}://",
                hint=f"use {self.name_rule}",
            )

    def _check_value(self, value: SecretValue, secret: str) -> None:
        if not isinstance(value, Secret):
            raise ValidationError(
                "secret values must be wrapped in skybridge.core.secret.Secret",
                hint="pass Secret('...') or Secret(b'...')",
            )
        size = len(value)
        if size > self.max_value_size:
            raise ValidationError(
                f"value for secret '{secret}' is {size} bytes; {self.scheme}:// accepts at most "
                f"{self.max_value_size} bytes (max_value_size)"
            )

    @staticmethod
    def _version_id(version_id: str | None) -> str:
        if version_id is None:
            return str(uuid.uuid4())
        if not _VERSION_ID.fullmatch(version_id):
            raise ValidationError(
                f"version id '{version_id[:80]}' is not valid",
                hint="use 1-64 characters from A-Z a-z 0-9 _ . - (a UUID works everywhere)",
            )
        return version_id

    @staticmethod
    def _check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
        for key, value in metadata.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key:
                raise ValidationError("metadata keys and values must be non-empty-key strings")
            if key.startswith("skybridge:"):
                raise ValidationError(f"metadata key '{key}' uses the reserved prefix skybridge:")
        return dict(metadata)

    @staticmethod
    def _stage(stage: str | None) -> str | None:
        if stage is None:
            return None
        return _STAGE_ALIASES.get(stage.lower(), stage)

    def _unsupported(self, capability: str) -> ValidationError:
        return ValidationError(
            f"{self.scheme}:// does not support {capability}",
            hint=f"check supports('{capability}') first",
        )
